import type { MappingRequest, MappingSlot } from '../../shared/transport/types';
import type { Destination, UserOutcome } from './types';

export { MAX_USERS_PER_REQUEST } from '../../shared/transport/types';

/**
 * The ids of one idSchema slot for all rows of a chunk: the strings as submitted ('text'), or, once the chunk has to
 * wait for a retry, raw bytes ('hex': 32 bytes per SHA-256 instead of an ~80-byte string) with a bitmap of the rows
 * that have an id. Only uniform lowercase hex is packed, so an id is never altered.
 */
export type IdColumn =
	| { readonly kind: 'hex'; readonly bytesPerId: number; readonly bytes: Buffer; readonly present?: Uint8Array }
	| { readonly kind: 'text'; readonly values: ReadonlyArray<string | undefined> };

export function packColumn(values: ReadonlyArray<string | undefined>): IdColumn {
	let length = -1;
	let presentCount = 0;
	for (const value of values) {
		if (value === undefined) continue;
		presentCount++;
		if (length === -1) length = value.length;
		if (value.length !== length || length === 0 || length % 2 !== 0) return { kind: 'text', values };
	}
	const bytesPerId = Math.max(length, 0) / 2;
	const bytes = Buffer.allocUnsafeSlow(presentCount * bytesPerId);
	const present = presentCount < values.length ? new Uint8Array(Math.ceil(values.length / 8)) : undefined;
	let offset = 0;
	for (let row = 0; row < values.length; row++) {
		const value = values[row];
		if (value === undefined) continue;
		// Lowercase hex only (checked while writing, about twice as fast as a regex test first): Node's hex decoder
		// stops at the first character that is not hex, and would accept upper case, which must stay text.
		if (bytes.write(value, offset, 'hex') !== bytesPerId || value !== value.toLowerCase()) return { kind: 'text', values };
		offset += bytesPerId;
		if (present) present[row >> 3] |= 1 << (row & 7);
	}
	return { kind: 'hex', bytesPerId, bytes, present };
}

/** The ids as strings. A 'text' column is returned as is: read-only. */
export function unpackColumn(column: IdColumn, rows: number): ReadonlyArray<string | undefined> {
	if (column.kind === 'text') return column.values;
	const values = new Array<string | undefined>(rows);
	let offset = 0;
	for (let row = 0; row < rows; row++) {
		if (column.present && (column.present[row >> 3] & (1 << (row & 7))) === 0) {
			values[row] = undefined;
			continue;
		}
		values[row] = column.bytes.toString('hex', offset, offset + column.bytesPerId);
		offset += column.bytesPerId;
	}
	return values;
}

export type ChunkState = 'buffered' | 'queued' | 'sending' | 'waitingRetry' | 'synced' | 'errored';

let nextChunkSerial = 0;

export const PENDING: UserOutcome = Object.freeze({ status: 'pending' });
export const SYNCED: UserOutcome = Object.freeze({ status: 'synced' });

/**
 * The users of one request. It fills while 'buffered' (ids as strings, one array per slot), is sealed when it leaves
 * the buffer, and from then on is sent, retried, journaled and settled as a whole: outcomes and counters move per
 * chunk, not per user. A chunk that must wait for a retry is compacted to bytes; the healthy path never pays for it.
 */
export class Chunk {
	state: ChunkState = 'buffered';
	/** Distinct users (request rows). */
	rows = 0;
	/** Submitted users it stands for: rows plus duplicates merged into them. Counters move by this. */
	users = 0;
	/** Latest entry among its users: the horizon is counted from here so nobody gives up early. */
	lastEnteredAt: number;
	failures = 0;
	lastError?: string;
	lastErrorWasReauthorize = false;
	/** When the scheduled retry is due (state waitingRetry). */
	dueAt = 0;
	retryTimer?: unknown;
	/** What its users are told; shared by all of them. */
	outcome: UserOutcome = PENDING;
	columns: IdColumn[] = [];
	private filling: Array<Array<string | undefined>> | undefined;
	private settleWaiters: Array<() => void> = [];

	/** Creation order: flush waits only for chunks that existed when it was called. */
	readonly serial = nextChunkSerial++;

	static nextSerial(): number {
		return nextChunkSerial;
	}

	constructor(
		readonly destination: Destination,
		enteredAt: number,
	) {
		this.lastEnteredAt = enteredAt;
		this.filling = destination.idSchema.map(() => []);
	}

	append(ids: ReadonlyArray<string | undefined>, enteredAt: number): void {
		const filling = this.filling;
		if (!filling) throw new Error('Chunk is sealed');
		for (let slot = 0; slot < filling.length; slot++) {
			const id = ids[slot];
			filling[slot].push(id === '' ? undefined : id);
		}
		this.rows++;
		this.users++;
		this.lastEnteredAt = enteredAt;
	}

	/** A duplicate of a user already in this chunk: it shares that row and its outcome. */
	addDuplicate(enteredAt: number): void {
		this.users++;
		this.lastEnteredAt = enteredAt;
	}

	seal(): void {
		if (!this.filling) return;
		this.columns = this.filling.map((values): IdColumn => ({ kind: 'text', values }));
		this.filling = undefined;
	}

	compact(): void {
		this.columns = this.columns.map((column) => (column.kind === 'text' ? packColumn(column.values) : column));
	}

	/**
	 * The ids per slot as columns, packed where possible (for the journal). A sealed chunk's ids never change, so it
	 * is compacted on the way: the journal is written at every execution end, and packing the same ids again each
	 * time made a backlog cost O(pending users) of CPU per execution. A forming chunk is packed from a copy.
	 */
	packedColumns(): IdColumn[] {
		if (this.filling) return this.filling.map((values) => packColumn(values.slice()));
		this.compact();
		return this.columns;
	}

	/**
	 * Resolves when the chunk is synced, errored or waiting for a retry: at once if it is now, otherwise when its
	 * current (or next) attempt ends. Never rejects.
	 */
	whenSettled(): Promise<void> {
		if (this.state === 'synced' || this.state === 'errored' || this.state === 'waitingRetry') return Promise.resolve();
		return new Promise((resolve) => this.settleWaiters.push(resolve));
	}

	/** Called after each move to synced, errored or waitingRetry (and on reset). */
	markSettled(): void {
		const waiters = this.settleWaiters;
		this.settleWaiters = [];
		for (const resolve of waiters) resolve();
	}
}

/** One batch_data row per user, one slot per idSchema entry: `{id, audience_ids}` or `{}` where the user lacks it. */
export function buildMappingRequest(chunk: Chunk): MappingRequest {
	const { destination } = chunk;
	const columns = chunk.columns.map((column) => unpackColumn(column, chunk.rows));
	// One audience_ids array shared by every slot of the request (serialised, never mutated): 10,000 fewer
	// allocations per request on the hot path.
	const audienceIds = [destination.audienceId];
	const batchData = new Array<MappingSlot[]>(chunk.rows);
	for (let row = 0; row < chunk.rows; row++) {
		const slots = new Array<MappingSlot>(columns.length);
		for (let slot = 0; slot < columns.length; slot++) {
			const id = columns[slot][row];
			slots[slot] = id === undefined ? {} : { id, audience_ids: audienceIds };
		}
		batchData[row] = slots;
	}
	return {
		advertiserIds: [destination.advertiserId],
		action: destination.action,
		idSchema: [...destination.idSchema],
		batchData,
	};
}
