import type { MappingBatch } from '../../shared/transport/mapping';
import { packColumn, unpackColumn, type IdColumn } from './columns';
import type { Destination, FailureInfo, UserOutcome } from './types';

export type ChunkState = 'buffered' | 'queued' | 'sending' | 'waitingRetry' | 'synced' | 'errored';

export const PENDING: UserOutcome = Object.freeze({ status: 'pending' });
export const SYNCED: UserOutcome = Object.freeze({ status: 'synced' });

/** What users of a request scheduled for a retry are told (both engines). */
export function retryOutcome(lastFailure: string | undefined): UserOutcome {
	return Object.freeze({ status: 'pending', reason: `will retry: ${lastFailure ?? 'unknown failure'}` });
}

/**
 * The users of one request. It fills while 'buffered' (ids as strings, one array per slot), is sealed when it leaves
 * the buffer, and from then on is sent, retried, journaled and settled as a whole: outcomes and counters move per
 * chunk, not per user. A chunk that must wait for a retry is compacted to bytes; the healthy path never pays for it.
 *
 * Its state changes only through its own methods:
 *   buffered --seal--> queued --startSending--> sending --delivered--> synced
 *                                                       --failed + waitForRetry--> waitingRetry --requeue--> queued
 *   queued | sending | waitingRetry --giveUp--> errored
 */
export class Chunk {
	private currentState: ChunkState = 'buffered';
	/** Distinct users (request rows). */
	rows = 0;
	/** Submitted users it stands for: rows plus duplicates merged into them. Counters move by this. */
	users = 0;
	/** Latest entry among its users: the horizon is counted from here so nobody gives up early. */
	lastEnteredAt: number;
	private failureCount = 0;
	private lastFailure?: string;
	private lastWasReauthorize = false;
	/** When the scheduled retry is due (state waitingRetry). */
	private retryDueAt = 0;
	/** When it became due to be sent (its window's end, or its retry's time): the send order, then its window. */
	readyAt = 0;
	/** What its users are told; shared by all of them. */
	private currentOutcome: UserOutcome = PENDING;
	private columns: IdColumn[] = [];
	private filling: Array<Array<string | undefined>> | undefined;
	/** Rows of `filling` whose user moved to the other action's request (dropped when sealed). */
	private cancelled: Set<number> | undefined;
	/** Users (by key) that moved to the other action's request: their outcome is that request's. Only for moves. */
	private movedUsers: Map<string, Chunk> | undefined;
	/** The gathering window it came from: an audience's requests with different actions go out in window order. */
	readonly window: number;

	constructor(
		readonly destination: Destination,
		enteredAt: number,
		/** Its window, and (from a journal) the failures so far: the backoff resumes where it was. */
		history: { window: number; failures?: number; lastError?: string },
	) {
		this.window = history.window;
		this.lastEnteredAt = enteredAt;
		this.filling = destination.idSchema.map(() => []);
		this.failureCount = history.failures ?? 0;
		this.lastFailure = history.lastError;
	}

	get state(): ChunkState {
		return this.currentState;
	}
	get outcome(): UserOutcome {
		return this.currentOutcome;
	}
	get failures(): number {
		return this.failureCount;
	}
	get lastError(): string | undefined {
		return this.lastFailure;
	}
	get lastErrorWasReauthorize(): boolean {
		return this.lastWasReauthorize;
	}
	get dueAt(): number {
		return this.retryDueAt;
	}

	/**
	 * Adds a user's row; returns its index among the rows appended so far (for cancelRow). `key` is given when the
	 * user comes back from the other action's request in the same window: it is carried here again.
	 */
	append(ids: ReadonlyArray<string | undefined>, enteredAt: number, key?: string): number {
		if (key !== undefined) this.movedUsers?.delete(key);
		const filling = this.filling;
		if (!filling) throw new Error('Chunk is sealed');
		for (let slot = 0; slot < filling.length; slot++) {
			const id = ids[slot];
			filling[slot].push(id === '' ? undefined : id);
		}
		this.rows++;
		this.users++;
		this.lastEnteredAt = enteredAt;
		return filling[0].length - 1;
	}

	/** Still gathering users (not sealed): the journal log appends its rows as they come. */
	get isForming(): boolean {
		return this.filling !== undefined;
	}

	/** Rows appended while forming, cancelled ones included (0 once sealed). */
	get appendedRows(): number {
		return this.filling?.[0]?.length ?? 0;
	}

	/** The ids of the rows appended from `from` on (while forming), one array per idSchema slot. */
	appendedSince(from: number): Array<Array<string | undefined>> {
		return (this.filling ?? []).map((values) => values.slice(from));
	}

	/** How many rows were cancelled while forming. */
	get cancelledCount(): number {
		return this.cancelled?.size ?? 0;
	}

	/** The cancelled rows (append indexes), in the order they were cancelled, from the `from`-th on. */
	cancelledSince(from: number): number[] {
		return this.cancelled ? [...this.cancelled].slice(from) : [];
	}

	/** The user `key` of `row` (standing for `users` submissions) moved to `carrier`: it is not sent with this one. */
	cancelRow(row: number, users: number, key: string, carrier: Chunk): void {
		if (!this.filling) throw new Error('Chunk is sealed');
		(this.cancelled ??= new Set()).add(row);
		(this.movedUsers ??= new Map()).set(key, carrier);
		this.rows--;
		this.users -= users;
	}

	/** The chunk that carries the user `key` submitted into this one (itself, unless a later action moved it). */
	carrierOf(key: string): Chunk {
		const carrier = this.movedUsers?.get(key);
		// A user moves at most to the other action's chunk of the window, and moving back forgets the move.
		return carrier ? (carrier.movedUsers?.get(key) ?? carrier) : this;
	}

	/** Whether some users submitted into this chunk moved to another (then carrierOf tells where each went). */
	get hasMovedUsers(): boolean {
		return this.movedUsers !== undefined && this.movedUsers.size > 0;
	}

	/** A duplicate of a user already in this chunk: it shares that row and its outcome. */
	addDuplicate(enteredAt: number): void {
		this.users++;
		this.lastEnteredAt = enteredAt;
	}

	/** Submitted users merged into rows before a restart (the journal keeps their count, not their rows). */
	addMergedUsers(count: number): void {
		this.users += count;
	}

	/** No more users: the chunk is a request, queued to be sent. */
	seal(): void {
		if (this.filling) {
			this.columns = this.liveFilling().map((values): IdColumn => ({ kind: 'text', values }));
			this.filling = undefined;
			this.cancelled = undefined;
		}
		this.currentState = 'queued';
	}

	/** The filling columns without cancelled rows (the same arrays when none was cancelled). */
	private liveFilling(): Array<Array<string | undefined>> {
		const filling = this.filling ?? [];
		const cancelled = this.cancelled;
		if (!cancelled) return filling;
		return filling.map((values) => values.filter((_, row) => !cancelled.has(row)));
	}

	startSending(): void {
		this.currentState = 'sending';
	}

	delivered(): void {
		this.currentState = 'synced';
		this.currentOutcome = SYNCED;
		this.columns = [];
	}

	/** Records a failed attempt (the decision what to do next is the failure policy's). */
	failed(failure: FailureInfo): void {
		this.failureCount++;
		this.lastFailure = failure.reason;
		this.lastWasReauthorize = failure.errorClass === 'reauthorize';
	}

	waitForRetry(dueAt: number): void {
		// It may wait for hours: keep its ids as bytes from now on.
		this.compact();
		this.currentState = 'waitingRetry';
		this.retryDueAt = dueAt;
		this.currentOutcome = retryOutcome(this.lastFailure);
	}

	requeue(): void {
		this.currentState = 'queued';
	}

	giveUp(reason: string): void {
		this.currentState = 'errored';
		this.currentOutcome = Object.freeze({ status: 'errored', reason });
		this.columns = [];
	}

	/** What the sender gets: the ids as strings, one column per idSchema slot. */
	toBatch(): MappingBatch {
		return {
			target: this.destination,
			rows: this.rows,
			columns: this.columns.map((column) => unpackColumn(column, this.rows)),
		};
	}

	/**
	 * The ids per slot as columns, packed where possible (for the journal). A sealed chunk's ids never change, so it
	 * is compacted on the way: the journal is written at every execution end, and packing the same ids again each
	 * time made a backlog cost O(pending users) of CPU per execution. A forming chunk is packed from a copy.
	 */
	packedColumns(): IdColumn[] {
		if (this.filling) return this.liveFilling().map((values) => packColumn(values.slice()));
		this.compact();
		return this.columns;
	}

	private compact(): void {
		this.columns = this.columns.map((column) => (column.kind === 'text' ? packColumn(column.values) : column));
	}

	/** Synced, errored or waiting for a retry (or sealed with nobody left to send). */
	get isAttempted(): boolean {
		const state = this.currentState;
		return state === 'synced' || state === 'errored' || state === 'waitingRetry' || (state === 'queued' && this.rows === 0);
	}
}
