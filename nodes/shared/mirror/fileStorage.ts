import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

import { decodeTypes, encodeTypes, layoutOf } from './layout';
import { decodeEntry, encodeEntry, MirrorDamagedError, nextEntryAfter, type ChunkWriter, type LogEntry, type MirrorSession, type MirrorStorage, type SnapshotInfo, type StagedOp } from './storage';
import type { IdType } from '../transport/types';

/**
 * A mirror's memory in a folder of its own (regular n8n: under n8n's user folder, see place.ts):
 * - `snapshot.bin`: a 64-byte header (format, identifier types, generation, member counts, CRC-32s), then the
 *   present members' records, then the unconfirmed members' (memory.ts). Replaced only by writing `snapshot.tmp-…`, syncing it, and renaming it over the old one.
 * - `log-<generation>.bin`: accepted changes since that snapshot, one entry per TikTok request, each synced to disk
 *   before the next request goes out. A log of another generation is left over from a crash after a rename: it is
 *   already part of the snapshot and is deleted.
 * - `sessions.json` (replaced whole, the same way) and `part-<session>.bin` (staged parts, synced).
 * - `about.json`: which ad account and audience the folder belongs to (for people looking at the disk).
 * Plain files and fsync: no native addon, works the same on Node 20 and 24.
 */

const MAGIC = Buffer.from('TTMIRROR', 'latin1');
const FORMAT = 1;
const HEADER_BYTES = 64;
const READ_CHUNK_BYTES = 1 << 20;
const SNAPSHOT = 'snapshot.bin';
const SESSIONS = 'sessions.json';

function isMissing(error: unknown): boolean {
	return (error as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/** Makes a rename or a new file in `dir` durable (a no-op where directories cannot be opened, e.g. Windows). */
async function syncDirectory(dir: string): Promise<void> {
	let handle: fs.FileHandle | undefined;
	try {
		handle = await fs.open(dir, 'r');
		await handle.sync();
	} catch {
		// best effort: not every platform can sync a directory
	} finally {
		await handle?.close().catch(() => undefined);
	}
}

/** Writes `content` to `path` atomically: a synced temporary file renamed over it. */
async function writeAtomically(dir: string, name: string, content: Buffer | string): Promise<void> {
	const temporary = join(dir, `${name}.tmp-${randomBytes(4).toString('hex')}`);
	const handle = await fs.open(temporary, 'w');
	try {
		await handle.writeFile(content);
		await handle.sync();
	} finally {
		await handle.close();
	}
	await fs.rename(temporary, join(dir, name));
	await syncDirectory(dir);
}

/** Appends `bytes` to `path` and syncs it; creates the file (durably) when missing. */
async function appendDurably(dir: string, name: string, bytes: Buffer): Promise<void> {
	const path = join(dir, name);
	const created = !(await fs.stat(path).then(() => true, () => false));
	const handle = await fs.open(path, 'a');
	try {
		await handle.write(bytes);
		await handle.datasync();
	} finally {
		await handle.close();
	}
	if (created) await syncDirectory(dir);
}

function encodeHeader(info: SnapshotInfo, width: number, checksum: number, unconfirmedChecksum: number): Buffer {
	const header = Buffer.alloc(HEADER_BYTES);
	MAGIC.copy(header, 0);
	header.writeUInt16LE(FORMAT, 8);
	const codes = encodeTypes(info.types);
	header.writeUInt8(codes.length, 10);
	codes.forEach((code, index) => header.writeUInt8(code, 11 + index));
	header.writeUInt32LE(info.generation, 20);
	header.writeDoubleLE(info.count, 24);
	header.writeUInt32LE(checksum, 32);
	header.writeUInt32LE(width, 36);
	header.writeUInt32LE(info.unconfirmed, 40);
	header.writeUInt32LE(unconfirmedChecksum, 44);
	return header;
}

export class FileMirrorStorage implements MirrorStorage {
	/** Per generation: where its log's last intact entry ends (a torn tail after it is cut before appending). */
	private readonly logEnds = new Map<number, number>();

	constructor(
		readonly dir: string,
		private readonly about: Record<string, string> = {},
	) {}

	get where(): string {
		return this.dir;
	}

	private async ensureDir(): Promise<void> {
		await fs.mkdir(this.dir, { recursive: true });
		const aboutPath = join(this.dir, 'about.json');
		if (!(await fs.stat(aboutPath).then(() => true, () => false))) {
			await writeAtomically(this.dir, 'about.json', JSON.stringify({ ...this.about, createdAt: new Date().toISOString() }, null, 2));
		}
	}

	private async readHeader(): Promise<{ info: SnapshotInfo; checksum: number; unconfirmedChecksum: number; width: number } | undefined> {
		let handle: fs.FileHandle;
		try {
			handle = await fs.open(join(this.dir, SNAPSHOT), 'r');
		} catch (error) {
			if (isMissing(error)) return undefined;
			throw error;
		}
		try {
			const header = Buffer.alloc(HEADER_BYTES);
			const { bytesRead } = await handle.read(header, 0, HEADER_BYTES, 0);
			if (bytesRead < HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC) || header.readUInt16LE(8) !== FORMAT) {
				throw new MirrorDamagedError(`${join(this.dir, SNAPSHOT)} is not a mirror memory file of this version`);
			}
			const types = decodeTypes([...header.subarray(11, 11 + header.readUInt8(10))]);
			const info = { generation: header.readUInt32LE(20), types, count: header.readDoubleLE(24), unconfirmed: header.readUInt32LE(40) };
			return { info, checksum: header.readUInt32LE(32), unconfirmedChecksum: header.readUInt32LE(44), width: header.readUInt32LE(36) };
		} finally {
			await handle.close();
		}
	}

	async readSnapshotInfo(): Promise<SnapshotInfo | undefined> {
		return (await this.readHeader())?.info;
	}

	async readSnapshot(info: SnapshotInfo, visit: (chunk: Buffer) => void | Promise<void>): Promise<void> {
		const width = layoutOf(info.types).width;
		const header = await this.readHeader();
		if (!header || header.info.generation !== info.generation) throw new Error('The mirror memory changed while it was read');
		const handle = await fs.open(join(this.dir, SNAPSHOT), 'r');
		try {
			const chunkBytes = Math.max(width, Math.floor(READ_CHUNK_BYTES / width) * width);
			const buffer = Buffer.allocUnsafe(chunkBytes);
			let remaining = info.count * width;
			let position = HEADER_BYTES;
			let checksum = 0;
			while (remaining > 0) {
				const want = Math.min(chunkBytes, remaining);
				let filled = 0;
				while (filled < want) {
					const { bytesRead } = await handle.read(buffer, filled, want - filled, position + filled);
					if (bytesRead === 0) throw new MirrorDamagedError(`${join(this.dir, SNAPSHOT)} is shorter than its header says`);
					filled += bytesRead;
				}
				const chunk = buffer.subarray(0, want);
				checksum = crc32(chunk, checksum);
				await visit(chunk);
				position += want;
				remaining -= want;
			}
			if (checksum !== header.checksum) throw new MirrorDamagedError(`${join(this.dir, SNAPSHOT)} does not match its checksum`);
		} finally {
			await handle.close();
		}
	}

	async readUnconfirmed(info: SnapshotInfo): Promise<Buffer> {
		if (info.unconfirmed === 0) return Buffer.alloc(0);
		const width = layoutOf(info.types).width;
		const header = await this.readHeader();
		if (!header || header.info.generation !== info.generation) throw new Error('The mirror memory changed while it was read');
		const records = Buffer.alloc(info.unconfirmed * width);
		const handle = await fs.open(join(this.dir, SNAPSHOT), 'r');
		try {
			const { bytesRead } = await handle.read(records, 0, records.length, HEADER_BYTES + info.count * width);
			if (bytesRead !== records.length || crc32(records) !== header.unconfirmedChecksum) {
				throw new MirrorDamagedError(`${join(this.dir, SNAPSHOT)} does not match its checksum`);
			}
		} finally {
			await handle.close();
		}
		return records;
	}

	private logName(generation: number): string {
		return `log-${generation}.bin`;
	}

	async readLog(generation: number, width: number, visit: (entry: LogEntry) => void): Promise<void> {
		const bytes = await this.readFileOrEmpty(this.logName(generation));
		let offset = 0;
		for (;;) {
			const decoded = decodeEntry(bytes, offset, width);
			if (!decoded) break;
			visit(decoded.entry);
			offset = decoded.next;
		}
		this.logEnds.set(generation, offset);
	}

	async appendLog(generation: number, entry: LogEntry): Promise<void> {
		await this.cutTornTail(this.logName(generation), this.logEnds.get(generation));
		const bytes = encodeEntry(entry);
		await appendDurably(this.dir, this.logName(generation), bytes);
		this.logEnds.set(generation, (this.logEnds.get(generation) ?? 0) + bytes.length);
	}

	/** A crash while appending can leave part of an entry: it is cut before the next one is written after it. */
	private async cutTornTail(name: string, end: number | undefined): Promise<void> {
		if (end === undefined) return;
		const size = await fs.stat(join(this.dir, name)).then((stat) => stat.size, () => 0);
		if (size > end) await fs.truncate(join(this.dir, name), end);
	}

	async replaceSnapshot(
		previousGeneration: number,
		types: IdType[],
		produce: (write: ChunkWriter) => Promise<number>,
		unconfirmed: Buffer,
	): Promise<SnapshotInfo> {
		await this.ensureDir();
		const width = layoutOf(types).width;
		const temporary = join(this.dir, `${SNAPSHOT}.tmp-${randomBytes(4).toString('hex')}`);
		const handle = await fs.open(temporary, 'w');
		let info: SnapshotInfo;
		try {
			let position = HEADER_BYTES;
			let checksum = 0;
			const append = async (chunk: Buffer) => {
				let written = 0;
				while (written < chunk.length) {
					const { bytesWritten } = await handle.write(chunk, written, chunk.length - written, position + written);
					written += bytesWritten;
				}
				position += chunk.length;
			};
			const count = await produce(async (chunk) => {
				if (chunk.length % width !== 0) throw new RangeError('A snapshot chunk must hold whole records');
				checksum = crc32(chunk, checksum);
				await append(chunk);
			});
			await append(unconfirmed);
			info = { generation: previousGeneration + 1, types, count, unconfirmed: unconfirmed.length / width };
			await handle.write(encodeHeader(info, width, checksum, crc32(unconfirmed)), 0, HEADER_BYTES, 0);
			await handle.sync();
		} catch (error) {
			await handle.close().catch(() => undefined);
			await fs.rm(temporary, { force: true });
			throw error;
		}
		await handle.close();
		const current = (await this.readHeader())?.info.generation ?? 0;
		if (current !== previousGeneration) {
			await fs.rm(temporary, { force: true });
			throw new Error(`The mirror memory in ${this.dir} was changed by another process (generation ${current}, expected ${previousGeneration})`);
		}
		await fs.rename(temporary, join(this.dir, SNAPSHOT));
		await syncDirectory(this.dir);
		// The old log is part of the new snapshot now; so is any log a crash left behind.
		for (const name of await fs.readdir(this.dir)) {
			if (/^log-\d+\.bin$/.test(name) && name !== this.logName(info.generation)) await fs.rm(join(this.dir, name), { force: true });
			if (name.startsWith(`${SNAPSHOT}.tmp-`) && join(this.dir, name) !== temporary) await fs.rm(join(this.dir, name), { force: true });
		}
		this.logEnds.clear();
		this.logEnds.set(info.generation, 0);
		return info;
	}

	async readSessions(): Promise<MirrorSession[]> {
		const bytes = await this.readFileOrEmpty(SESSIONS);
		if (bytes.length === 0) return [];
		try {
			return JSON.parse(bytes.toString('utf8')) as MirrorSession[];
		} catch {
			throw new MirrorDamagedError(`${join(this.dir, SESSIONS)} is not valid JSON`);
		}
	}

	async writeSession(session: MirrorSession): Promise<void> {
		await this.ensureDir();
		const sessions = (await this.readSessions()).filter((other) => other.id !== session.id);
		sessions.push(session);
		await writeAtomically(this.dir, SESSIONS, JSON.stringify(sessions));
	}

	async deleteSession(id: string): Promise<void> {
		await this.dropParts(id);
		const sessions = await this.readSessions();
		const kept = sessions.filter((session) => session.id !== id);
		if (kept.length !== sessions.length) await writeAtomically(this.dir, SESSIONS, JSON.stringify(kept));
	}

	private partName(id: string): string {
		return `part-${id}.bin`;
	}

	async appendPart(id: string, op: StagedOp, records: Buffer, count: number): Promise<void> {
		await this.ensureDir();
		await appendDurably(this.dir, this.partName(id), encodeEntry({ op, records, count }));
	}

	async readParts(id: string, width: number, visit: (records: Buffer, count: number, op: StagedOp) => void): Promise<void> {
		const bytes = await this.readFileOrEmpty(this.partName(id));
		let offset = 0;
		while (offset >= 0 && offset < bytes.length) {
			const decoded = decodeEntry(bytes, offset, width);
			if (decoded) visit(decoded.entry.records, decoded.entry.count, decoded.entry.op === 'add' ? 'add' : 'part');
			// A torn entry (a crash while a part was staged) is skipped: the part sent again comes after it.
			offset = decoded ? decoded.next : nextEntryAfter(bytes, offset);
		}
	}

	async dropParts(id: string): Promise<void> {
		await fs.rm(join(this.dir, this.partName(id)), { force: true });
	}

	async forget(): Promise<void> {
		await fs.rm(this.dir, { recursive: true, force: true });
		this.logEnds.clear();
	}

	private async readFileOrEmpty(name: string): Promise<Buffer> {
		try {
			return await fs.readFile(join(this.dir, name));
		} catch (error) {
			if (isMissing(error)) return Buffer.alloc(0);
			throw error;
		}
	}
}
