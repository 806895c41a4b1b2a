import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

import type { Chunk } from './chunk';
import { emptyCounters, type Counters } from './counters';
import { JOURNAL_FORMAT, JOURNAL_VERSION, encodeGroup, type Journal, type JournalGroup, type JournalQueue } from './journal';
import { JOURNAL_COMPACT_MIN_BYTES } from './limits';
import type { Destination } from './types';

/*
 * A scope's journal as an append-only file (regular mode): one JSON record per line. An execution end appends what
 * changed since the last one (rows a forming request gained, a request sealed, retried or settled, the counters), so
 * its cost follows the changes, not the users pending. The file is rewritten whole (a snapshot, written aside and
 * renamed over) when a process takes the scope back and when appends outgrow the last snapshot; a torn last line
 * (a crash mid-write) is ignored on reading.
 *
 * Records (`k`): h header (the node and what it runs with); n counters; f rows appended to a forming request (with
 * its destination and timing the first time); g a sealed request, whole (replaces what came before for it);
 * s a request's timing and failures; d a request settled (synced or errored).
 */

/** What the node ran with, kept beside its users (a restart must retry them with the same settings). */
export type JournalProfile = Record<string, unknown>;

interface WrittenChunk {
	id: number;
	forming: boolean;
	rows: number;
	cancelled: number;
	users: number;
	enteredAt: number;
	failures: number;
	lastError: string | undefined;
}

type IdValues = Array<Array<string | null>>;

type LogRecord =
	| { k: 'h'; format: typeof JOURNAL_FORMAT; version: typeof JOURNAL_VERSION; node: string; profile?: JournalProfile }
	| { k: 'p'; profile: JournalProfile }
	| { k: 'n'; counters: Counters }
	| { k: 'f'; c: number; dest?: Destination; window?: number; at: number; rows: IdValues; x?: number[]; e: number; f: number; u: number; le?: string }
	| { k: 'g'; c: number; dest: Destination; group: JournalGroup }
	| { k: 's'; c: number; e: number; f: number; u: number; le?: string }
	| { k: 'd'; c: number };

const nulls = (values: Array<Array<string | undefined>>): IdValues => values.map((column) => column.map((id) => id ?? null));

/** What a journal file holds: the node it belongs to, what it ran with, and its users as a Journal. */
export interface JournalFileContent {
	node: string;
	profile?: JournalProfile;
	journal: Journal;
}

/** Writes one scope's journal file. One per scope per process: it remembers what it wrote. */
export class JournalLog {
	private fd: number | undefined;
	private readonly written = new Map<Chunk, WrittenChunk>();
	private nextId = 1;
	private lastCounters = '';
	private lastProfile = '';
	private appendedBytes = 0;
	private snapshotBytes = 0;

	constructor(
		readonly path: string,
		private readonly node: string,
	) {}

	/** Rewrites the file with the scope's whole state (after a restore, and when appends outgrew the last snapshot). */
	snapshot(chunks: ReadonlyArray<Chunk>, counters: Counters, profile: JournalProfile | undefined): void {
		this.close();
		this.written.clear();
		this.lastCounters = '';
		this.lastProfile = profile ? JSON.stringify(profile) : '';
		const lines: string[] = [JSON.stringify({ k: 'h', format: JOURNAL_FORMAT, version: JOURNAL_VERSION, node: this.node, ...(profile ? { profile } : {}) })];
		this.changes(chunks, counters, lines);
		const text = `${lines.join('\n')}\n`;
		mkdirSync(dirname(this.path), { recursive: true });
		const aside = `${this.path}.${process.pid}.tmp`;
		const fd = openSync(aside, 'w');
		try {
			writeSync(fd, text);
			fsyncSync(fd);
		} finally {
			closeSync(fd);
		}
		renameSync(aside, this.path);
		this.snapshotBytes = Buffer.byteLength(text);
		this.appendedBytes = 0;
	}

	/** Appends what changed since the last write; rewrites the file instead when appends outgrew the last snapshot. */
	append(chunks: ReadonlyArray<Chunk>, counters: Counters, profile: JournalProfile | undefined): void {
		if (this.fd === undefined && !existsSync(this.path)) return this.snapshot(chunks, counters, profile);
		if (this.appendedBytes > Math.max(JOURNAL_COMPACT_MIN_BYTES, 2 * this.snapshotBytes)) return this.snapshot(chunks, counters, profile);
		const lines: string[] = [];
		const profileText = profile ? JSON.stringify(profile) : '';
		if (profileText !== this.lastProfile) {
			this.lastProfile = profileText;
			if (profile) lines.push(JSON.stringify({ k: 'p', profile }));
		}
		this.changes(chunks, counters, lines);
		if (lines.length === 0) return;
		const text = `${lines.join('\n')}\n`;
		this.fd ??= openSync(this.path, 'a');
		writeSync(this.fd, text);
		this.appendedBytes += text.length;
	}

	close(): void {
		if (this.fd !== undefined) closeSync(this.fd);
		this.fd = undefined;
	}

	/** Removes the file (the scope's users went elsewhere, e.g. into Redis). */
	remove(): void {
		this.close();
		rmSync(this.path, { force: true });
	}

	private changes(chunks: ReadonlyArray<Chunk>, counters: Counters, lines: string[]): void {
		const seen = new Set<Chunk>();
		for (const chunk of chunks) {
			seen.add(chunk);
			const record = this.recordFor(chunk);
			if (record) lines.push(JSON.stringify(record));
		}
		// Requests written before and no longer unsettled were synced or errored.
		for (const [chunk, state] of this.written) {
			if (seen.has(chunk)) continue;
			lines.push(JSON.stringify({ k: 'd', c: state.id }));
			this.written.delete(chunk);
		}
		const countersText = JSON.stringify(counters);
		if (countersText !== this.lastCounters) {
			this.lastCounters = countersText;
			lines.push(`{"k":"n","counters":${countersText}}`);
		}
	}

	private recordFor(chunk: Chunk): LogRecord | undefined {
		let state = this.written.get(chunk);
		const timing = { e: chunk.lastEnteredAt, f: chunk.failures, u: chunk.users, ...(chunk.lastError !== undefined ? { le: chunk.lastError } : {}) };
		if (chunk.isForming) {
			const isNew = !state;
			if (!state) {
				state = { id: this.nextId++, forming: true, rows: 0, cancelled: 0, users: 0, enteredAt: 0, failures: 0, lastError: undefined };
				this.written.set(chunk, state);
			}
			const rows = chunk.appendedRows;
			const cancelled = chunk.cancelledCount;
			if (!isNew && rows === state.rows && cancelled === state.cancelled && !this.timingChanged(state, chunk)) return undefined;
			const record: LogRecord = {
				k: 'f',
				c: state.id,
				...(isNew ? { dest: chunk.destination, window: chunk.window } : {}),
				at: state.rows,
				rows: nulls(chunk.appendedSince(state.rows)),
				...(cancelled > state.cancelled ? { x: chunk.cancelledSince(state.cancelled) } : {}),
				...timing,
			};
			Object.assign(state, { rows, cancelled });
			this.remember(state, chunk);
			return record;
		}
		if (!state || state.forming) {
			// Sealed since the last write (or never written): the request whole, once.
			state ??= { id: this.nextId++, forming: false, rows: 0, cancelled: 0, users: 0, enteredAt: 0, failures: 0, lastError: undefined };
			state.forming = false;
			this.written.set(chunk, state);
			this.remember(state, chunk);
			return { k: 'g', c: state.id, dest: chunk.destination, group: encodeGroup(chunk) };
		}
		if (!this.timingChanged(state, chunk)) return undefined;
		this.remember(state, chunk);
		return { k: 's', c: state.id, ...timing };
	}

	private timingChanged(state: WrittenChunk, chunk: Chunk): boolean {
		return state.users !== chunk.users || state.enteredAt !== chunk.lastEnteredAt || state.failures !== chunk.failures || state.lastError !== chunk.lastError;
	}

	private remember(state: WrittenChunk, chunk: Chunk): void {
		state.users = chunk.users;
		state.enteredAt = chunk.lastEnteredAt;
		state.failures = chunk.failures;
		state.lastError = chunk.lastError;
	}
}

interface ReplayedChunk {
	dest: Destination;
	window?: number;
	/** A sealed request, whole. */
	group?: JournalGroup;
	/** A forming request: rows by append index, and the cancelled ones. */
	rows?: IdValues;
	cancelled?: Set<number>;
	e: number;
	f: number;
	u: number;
	le?: string;
}

/**
 * Reads a journal file back: the records in order, up to a torn or unreadable line (a crash mid-append). Undefined
 * when there is no file or no header. The Journal it returns has the shape parseJournal checks.
 */
export function readJournalFile(path: string): JournalFileContent | undefined {
	let text: string;
	try {
		text = readFileSync(path, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
		throw error;
	}
	let node: string | undefined;
	let profile: JournalProfile | undefined;
	let counters: Counters | undefined;
	const chunks = new Map<number, ReplayedChunk>();
	for (const line of text.split('\n')) {
		if (!line) continue;
		let record: LogRecord;
		try {
			record = JSON.parse(line) as LogRecord;
		} catch {
			break;
		}
		switch (record.k) {
			case 'h':
				node = record.node;
				profile = record.profile;
				break;
			case 'p':
				profile = record.profile;
				break;
			case 'n':
				counters = record.counters;
				break;
			case 'f': {
				let chunk = chunks.get(record.c);
				if (!chunk && record.dest) {
					chunk = { dest: record.dest, window: record.window, rows: record.dest.idSchema.map(() => []), cancelled: new Set(), e: 0, f: 0, u: 0 };
					chunks.set(record.c, chunk);
				}
				if (!chunk?.rows) break;
				for (let slot = 0; slot < chunk.rows.length; slot++) {
					const column = chunk.rows[slot];
					column.length = record.at;
					column.push(...(record.rows[slot] ?? []));
				}
				for (const row of record.x ?? []) chunk.cancelled?.add(row);
				Object.assign(chunk, { e: record.e, f: record.f, u: record.u, le: record.le });
				break;
			}
			case 'g':
				chunks.set(record.c, { dest: record.dest, window: record.group.window, group: record.group, e: record.group.enteredAt, f: record.group.failures, u: record.group.users, le: record.group.lastError });
				break;
			case 's': {
				const chunk = chunks.get(record.c);
				if (chunk) Object.assign(chunk, { e: record.e, f: record.f, u: record.u, le: record.le });
				break;
			}
			case 'd':
				chunks.delete(record.c);
				break;
		}
	}
	if (node === undefined) return undefined;
	const journal = journalOf(chunks, counters);
	// Who wrote it and when, for the Redis import's once-only check: the file's size and last change.
	journal.writer = `journal-file:${text.length}`;
	journal.savedAt = Math.floor(statSync(path).mtimeMs);
	return { node, profile, journal };
}

function journalOf(chunks: Map<number, ReplayedChunk>, counters: Counters | undefined): Journal {
	const queues = new Map<string, JournalQueue>();
	for (const chunk of chunks.values()) {
		const key = JSON.stringify([chunk.dest.advertiserId, chunk.dest.audienceId, chunk.dest.action, chunk.dest.idSchema]);
		let queue = queues.get(key);
		if (!queue) {
			queue = { destination: chunk.dest, groups: [] };
			queues.set(key, queue);
		}
		const timing = { enteredAt: chunk.e, failures: chunk.f, users: chunk.u, ...(chunk.le !== undefined ? { lastError: chunk.le } : {}) };
		if (chunk.group) {
			queue.groups.push({ ...chunk.group, ...timing });
			continue;
		}
		const cancelled = chunk.cancelled ?? new Set<number>();
		const ids = (chunk.rows ?? []).map((column) => ({ values: cancelled.size ? column.filter((_, row) => !cancelled.has(row)) : column }));
		const rows = ids[0]?.values.length ?? 0;
		if (rows === 0) continue;
		queue.groups.push({ ...timing, window: chunk.window, rows, ids });
	}
	return {
		format: JOURNAL_FORMAT,
		version: JOURNAL_VERSION,
		writer: 'journal-file',
		savedAt: 0,
		counters: counters ?? emptyCounters(),
		queues: [...queues.values()],
	};
}
