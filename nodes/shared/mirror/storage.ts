import { crc32 } from 'node:zlib';

import type { IdType } from '../transport/types';

/**
 * What a mirror's memory is made of, in either store (a folder on disk, or keys in Redis):
 * - a snapshot: the remembered members as fixed-width records (layout.ts), written whole and made current at once;
 * - a log of changes since that snapshot, two entries per TikTok request: "unconfirmed" before it goes out, "added"
 *   or "removed" once TikTok accepted it, each durable before the next step;
 * - sessions: mirrors that arrive in parts, with the records of the parts so far (staged, not remembered).
 * The stores only keep bytes; memory.ts gives them meaning. Every write happens under the mirror's lock.
 */

/** A store's bytes are not what it wrote (a damaged file, a key Redis lost): the memory cannot be trusted. */
export class MirrorDamagedError extends Error {
	override readonly name = 'MirrorDamagedError';
}

export interface SnapshotInfo {
	/** Increases with every new snapshot; a log belongs to one generation. */
	generation: number;
	types: IdType[];
	/** Members TikTok holds. */
	count: number;
	/** Members whose state in TikTok is unknown (memory.ts), kept after the present ones. */
	unconfirmed: number;
}

export type LogOp = 'add' | 'remove' | 'unconfirmed' | 'part';
/** How a staged part's records are kept (see appendPart). */
export type StagedOp = 'part' | 'add';

export interface LogEntry {
	op: LogOp;
	/** Whole records of the snapshot's layout (staged parts: of the session's layout). */
	records: Buffer;
	count: number;
}

export interface MirrorSession {
	/** Digest of the part key (and of Dry Run): the session's name in the store. */
	id: string;
	/** The part key as the workflow gave it (an execution ID, a date…): for messages. */
	partKey: string;
	dryRun: boolean;
	state: 'open' | 'completed' | 'abandoned';
	startedAt: number;
	lastPartAt: number;
	endedAt?: number;
	/** Abandoned when its last part has not come this long after its first. */
	abandonAfterMs: number;
	/** The layout of its staged parts (Fields to Match must not change within a mirror). */
	types: IdType[];
	/** Nothing was remembered when its first part came. */
	firstRun: boolean;
	/**
	 * Members remembered (present or unconfirmed) when its first part came: what the safety limit weighs its removals
	 * against, not the count its own parts' adds have grown since.
	 */
	rememberedAtStart?: number;
	parts: number;
	listed: number;
	notSynced: number;
	added: number;
	requests: number;
}

/** Writes one chunk of whole records of the new snapshot. */
export type ChunkWriter = (chunk: Buffer) => Promise<void>;

export interface MirrorStorage {
	/** Where it is kept, for messages and the README's "where is my data" (a path, or Redis keys). */
	readonly where: string;
	/** The current snapshot, or undefined when nothing was ever remembered (or it was forgotten). */
	readSnapshotInfo(): Promise<SnapshotInfo | undefined>;
	/** The snapshot's present members, in chunks of whole records. */
	readSnapshot(info: SnapshotInfo, visit: (chunk: Buffer) => void | Promise<void>): Promise<void>;
	/** The snapshot's unconfirmed members. */
	readUnconfirmed(info: SnapshotInfo): Promise<Buffer>;
	/** The log entries of one generation, oldest first. A torn last entry (a crash while writing it) is skipped. */
	readLog(generation: number, width: number, visit: (entry: LogEntry) => void): Promise<void>;
	/** Appends an entry; resolves once it is durable. */
	appendLog(generation: number, entry: LogEntry): Promise<void>;
	/**
	 * Writes a new snapshot (generation `previous + 1`): the present members `produce` writes (it returns how many),
	 * then the `unconfirmed` records; makes it current in one step and drops the old snapshot and its log. A crash
	 * before that step leaves the old snapshot and log current.
	 */
	replaceSnapshot(
		previousGeneration: number,
		types: IdType[],
		produce: (write: ChunkWriter) => Promise<number>,
		unconfirmed: Buffer,
	): Promise<SnapshotInfo>;

	readSessions(): Promise<MirrorSession[]>;
	writeSession(session: MirrorSession): Promise<void>;
	/** Deletes the session and its staged parts. */
	deleteSession(id: string): Promise<void>;
	/**
	 * Stages a part's records durably: as 'add' the members new to the mirror when the part came (the part sent them to
	 * TikTok), as 'part' the others.
	 */
	appendPart(id: string, op: StagedOp, records: Buffer, count: number, keepMs: number): Promise<void>;
	readParts(id: string, width: number, visit: (records: Buffer, count: number, op: StagedOp) => void): Promise<void>;
	dropParts(id: string): Promise<void>;

	/** Deletes everything this mirror remembers and stages. */
	forget(): Promise<void>;
}

const LOG_MAGIC = 0x4d4c4731; // "MLG1"
export const LOG_HEADER_BYTES = 16;
const OPS: LogOp[] = ['add', 'remove', 'part', 'unconfirmed'];

/** One log (or staged part) entry as bytes: magic, op, count, CRC-32 of the records, then the records. */
export function encodeEntry(entry: LogEntry): Buffer {
	const out = Buffer.allocUnsafe(LOG_HEADER_BYTES + entry.records.length);
	out.writeUInt32LE(LOG_MAGIC, 0);
	out.writeUInt8(OPS.indexOf(entry.op), 4);
	out.fill(0, 5, 8);
	out.writeUInt32LE(entry.count, 8);
	out.writeUInt32LE(crc32(entry.records), 12);
	entry.records.copy(out, LOG_HEADER_BYTES);
	return out;
}

/**
 * Where the next entry may begin after a damaged one at `offset` (the next magic number), or -1. Staged parts are
 * appended without cutting a torn entry first: a part sent again after a crash follows the torn piece, and readers
 * skip to it (the CRC tells a real entry from bytes that only look like its start).
 */
export function nextEntryAfter(bytes: Buffer, offset: number): number {
	const magic = Buffer.allocUnsafe(4);
	magic.writeUInt32LE(LOG_MAGIC, 0);
	return bytes.indexOf(magic, offset + 1);
}

/**
 * The entry at `offset` of `bytes`, with the offset after it; undefined when the bytes there are not a whole, intact
 * entry (a write cut short by a crash), so readers stop there.
 */
export function decodeEntry(bytes: Buffer, offset: number, width: number): { entry: LogEntry; next: number } | undefined {
	if (offset + LOG_HEADER_BYTES > bytes.length) return undefined;
	if (bytes.readUInt32LE(offset) !== LOG_MAGIC) return undefined;
	const op = OPS[bytes.readUInt8(offset + 4)];
	const count = bytes.readUInt32LE(offset + 8);
	const end = offset + LOG_HEADER_BYTES + count * width;
	if (op === undefined || end > bytes.length) return undefined;
	const records = bytes.subarray(offset + LOG_HEADER_BYTES, end);
	if (crc32(records) !== bytes.readUInt32LE(offset + 12)) return undefined;
	return { entry: { op, records, count }, next: end };
}
