import { takeWindowNumber } from './buffer';
import { Chunk } from './chunk';
import { unpackColumn, type IdColumn } from './columns';
import type { Counters } from './counters';
import { JournalFormatError } from './errors';
import type { Destination } from './types';
import { isDestination } from './validation';

/*
 * The journal is what a regular n8n process keeps of a scope between executions (journalLog.ts writes it to a file;
 * earlier builds wrote it into workflow static data): the scope's
 * cumulative counters and every user not yet synced or errored (buffered, queued, in flight or waiting for a retry).
 * It holds hashed ids only. One group per request-sized chunk carries the timing shared by its users; ids are stored
 * per idSchema slot as base64 of the raw hash bytes (43 characters per SHA-256, about 44 bytes per user in total),
 * plus a base64 bitmap of the rows that have that id when some rows lack it.
 */
export const JOURNAL_FORMAT = 'tiktok-batch-sync-journal';
export const JOURNAL_VERSION = 1;

export interface Journal {
	format: typeof JOURNAL_FORMAT;
	version: typeof JOURNAL_VERSION;
	/** The coordinator (process) that wrote it: a process never re-restores its own journal. */
	writer: string;
	savedAt: number;
	counters: Counters;
	queues: JournalQueue[];
}

export interface JournalQueue {
	destination: Destination;
	groups: JournalGroup[];
}

export interface JournalGroup {
	/** Latest entry time of the group's users (ms since epoch); the retry horizon counts from it. */
	enteredAt: number;
	/** Failed attempts so far: the backoff resumes from here. */
	failures: number;
	/** The window it was gathered in (relative order only): an audience's adds and removes are sent in this order. */
	window?: number;
	/** Submitted users the group stands for (rows plus merged duplicates). */
	users: number;
	/** Distinct users (request rows). */
	rows: number;
	lastError?: string;
	/** One entry per idSchema slot. */
	ids: JournalColumn[];
}

export type JournalColumn =
	/** Lowercase hex ids stored as base64 of their bytes; `present` is a row bitmap, absent when every row has one. */
	| { hexBytes: number; base64: string; present?: string }
	/** Ids that are not uniform lowercase hex, verbatim (null where a row lacks it). */
	| { values: Array<string | null> };

function destinationKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.action, destination.idSchema]);
}

/** The journal of one scope: its counters and its unsettled chunks, grouped by destination. */
export function encodeJournal(args: { writer: string; savedAt: number; counters: Counters; chunks: Chunk[] }): Journal {
	const queues = new Map<string, JournalQueue>();
	for (const chunk of args.chunks) {
		const key = destinationKey(chunk.destination);
		let queue = queues.get(key);
		if (!queue) {
			const { advertiserId, audienceId, action, idSchema } = chunk.destination;
			queue = { destination: { advertiserId, audienceId, action, idSchema: [...idSchema] }, groups: [] };
			queues.set(key, queue);
		}
		queue.groups.push(encodeGroup(chunk));
	}
	return {
		format: JOURNAL_FORMAT,
		version: JOURNAL_VERSION,
		writer: args.writer,
		savedAt: args.savedAt,
		counters: args.counters,
		queues: [...queues.values()],
	};
}

/**
 * A journal's users as sealed chunks of at most `usersPerRequest` rows, ready to queue, and how many submitted users
 * they stand for. Everything is decoded before anything is returned, so a damaged group throws JournalFormatError
 * before anything is counted.
 */
export function decodeJournalChunks(journal: Journal, usersPerRequest: number): { chunks: Chunk[]; users: number } {
	// In window order (a journal without windows keeps its saved order); each saved window gets a new number.
	const groups = journal.queues.flatMap((queue) => queue.groups.map((group) => ({ queue, group })));
	groups.sort((a, b) => (a.group.window ?? 0) - (b.group.window ?? 0));
	const windows = new Map<number | undefined, number>();
	const chunks: Chunk[] = [];
	let users = 0;
	for (const { queue, group } of groups) {
		const columns = decodeGroupIds(group, queue.destination.idSchema.length);
		let window = windows.get(group.window);
		if (window === undefined || group.window === undefined) {
			window = takeWindowNumber();
			windows.set(group.window, window);
		}
		const groupChunks: Chunk[] = [];
		for (let start = 0; start < group.rows; start += usersPerRequest) {
			const chunk = new Chunk(queue.destination, group.enteredAt, { window, failures: group.failures, lastError: group.lastError });
			const end = Math.min(group.rows, start + usersPerRequest);
			for (let row = start; row < end; row++) chunk.append(columns.map((column) => column[row]), group.enteredAt);
			chunk.seal();
			groupChunks.push(chunk);
		}
		// Merged duplicates stay with the group's first chunk so the counters stay whole.
		if (groupChunks.length > 0) groupChunks[0].addMergedUsers(group.users - group.rows);
		for (const chunk of groupChunks) users += chunk.users;
		chunks.push(...groupChunks);
	}
	return { chunks, users };
}

/** One request as a journal group: its timing, failures and ids (packed). */
export function encodeGroup(chunk: Chunk): JournalGroup {
	const columns = chunk.packedColumns();
	return {
		enteredAt: chunk.lastEnteredAt,
		failures: chunk.failures,
		window: chunk.window,
		users: chunk.users,
		rows: chunk.rows,
		...(chunk.lastError !== undefined ? { lastError: chunk.lastError } : {}),
		ids: columns.map((column) => encodeColumn(column, chunk.rows)),
	};
}

function encodeColumn(column: IdColumn, rows: number): JournalColumn {
	if (column.kind === 'text') {
		const values = new Array<string | null>(rows);
		for (let row = 0; row < rows; row++) values[row] = column.values[row] ?? null;
		return { values };
	}
	return {
		hexBytes: column.bytesPerId,
		base64: column.bytes.toString('base64'),
		...(column.present ? { present: Buffer.from(column.present).toString('base64') } : {}),
	};
}

/** The group's ids as strings, one array per slot, validated against its row count. */
export function decodeGroupIds(group: JournalGroup, slots: number): Array<Array<string | undefined>> {
	if (group.ids.length !== slots) throw new JournalFormatError('id columns do not match the id schema');
	return group.ids.map((column) => {
		if ('values' in column) {
			if (column.values.length !== group.rows) throw new JournalFormatError('id column length mismatch');
			return column.values.map((value) => (typeof value === 'string' && value !== '' ? value : undefined));
		}
		const bytes = Buffer.from(column.base64, 'base64');
		const present = column.present !== undefined ? new Uint8Array(Buffer.from(column.present, 'base64')) : undefined;
		let presentRows = group.rows;
		if (present) {
			if (present.length !== Math.ceil(group.rows / 8)) throw new JournalFormatError('row bitmap length mismatch');
			presentRows = 0;
			for (let row = 0; row < group.rows; row++) if (present[row >> 3] & (1 << (row & 7))) presentRows++;
		}
		if (bytes.length !== presentRows * column.hexBytes) throw new JournalFormatError('id bytes length mismatch');
		return unpackColumn({ kind: 'hex', bytesPerId: column.hexBytes, bytes, present }, group.rows) as Array<
			string | undefined
		>;
	});
}

/** Checks the shape of a journal read back (a file, or static data of an earlier build); throws JournalFormatError with what is wrong. */
export function parseJournal(value: unknown): Journal {
	const journal = value as Partial<Journal> | null;
	if (!isObject(journal) || journal.format !== JOURNAL_FORMAT) throw new JournalFormatError('not a journal');
	if (journal.version !== JOURNAL_VERSION) throw new JournalFormatError(`unsupported version ${String(journal.version)}`);
	if (typeof journal.writer !== 'string') throw new JournalFormatError('missing writer');
	checkCounters(journal.counters);
	if (!Array.isArray(journal.queues)) throw new JournalFormatError('missing queues');
	for (const queue of journal.queues) {
		if (!isObject(queue) || !Array.isArray(queue.groups)) throw new JournalFormatError('bad queue');
		if (!isDestination(queue.destination)) throw new JournalFormatError('bad destination');
		for (const group of queue.groups) checkGroup(group, queue.destination.idSchema.length);
	}
	return journal as Journal;
}

function checkCounters(counters: unknown): void {
	const c = counters as Partial<Counters> | undefined;
	if (!isObject(c)) throw new JournalFormatError('missing counters');
	for (const name of ['entered', 'synced', 'notSynced', 'pending', 'errored'] as const) {
		if (!isCount(c[name])) throw new JournalFormatError(`bad counter ${name}`);
	}
	for (const name of ['notSyncedReasons', 'erroredReasons'] as const) {
		const reasons = c[name];
		if (!isObject(reasons) || !Object.values(reasons).every(isCount)) throw new JournalFormatError(`bad ${name}`);
	}
}

function checkGroup(group: unknown, slots: number): void {
	const g = group as Partial<JournalGroup> | undefined;
	if (
		!isObject(g) ||
		typeof g.enteredAt !== 'number' ||
		!isCount(g.failures) ||
		(g.window !== undefined && !isCount(g.window)) ||
		!isCount(g.rows) ||
		!isCount(g.users) ||
		g.users < g.rows ||
		!Array.isArray(g.ids) ||
		g.ids.length !== slots ||
		(g.lastError !== undefined && typeof g.lastError !== 'string')
	) {
		throw new JournalFormatError('bad group');
	}
	for (const column of g.ids) {
		const ok =
			isObject(column) &&
			(Array.isArray((column as { values?: unknown }).values) ||
				(isCount((column as { hexBytes?: unknown }).hexBytes) &&
					typeof (column as { base64?: unknown }).base64 === 'string'));
		if (!ok) throw new JournalFormatError('bad id column');
	}
}

function isObject(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
	return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}
