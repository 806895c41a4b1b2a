import type { RedisHandle } from '../redis/client';
import { taggedKey } from '../redis/keys';
import type { IdType } from '../transport/types';
import { decodeTypes, encodeTypes, layoutOf } from './layout';
import { decodeEntry, encodeEntry, MirrorDamagedError, type ChunkWriter, type LogEntry, type MirrorSession, type MirrorStorage, type SnapshotInfo, type StagedOp } from './storage';

/**
 * A mirror's memory in Redis (queue mode), every key under one hash tag (one Cluster slot):
 * - `meta` (hash): generation, identifier types, member count, number of snapshot segments;
 * - `s:<generation>:<n>` (strings): the snapshot's records, in segments of at most 4 MiB of raw bytes. Written once
 *   each with SET, so Redis allocates them exactly: about 32 bytes per email-only member, nothing per member beyond;
 * - `u:<generation>` (string): the unconfirmed members (memory.ts);
 * - `log:<generation>` (list): one entry per accepted TikTok request; appended only while `meta` still names that
 *   generation (a script checks), so a process that lost the lock cannot write into a newer memory;
 * - `sessions` (hash) and `p:<session>` (lists, with an expiry): mirrors arriving in parts.
 * A new snapshot is written under the next generation, then one script makes it current and deletes the old
 * segments and log; segments of a snapshot a crash left half-written are named in `meta` and deleted next time.
 */

/** 4 MiB less a little: Redis' allocator rounds a value just over 4 MiB up to 5 MiB (25% lost), one just under to 4. */
const SEGMENT_BYTES = (4 << 20) - 4096;
const LIST_PAGE = 64;
const READ_PIECE_BYTES = 1 << 20;

/** Appends to the log only when its generation is the current one. */
const APPEND_LOG = `
if (redis.call('HGET', KEYS[1], 'generation') or '0') ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1`;

/**
 * Makes the new snapshot current when the memory is still at the expected generation: new meta, then the old
 * segments and log (KEYS[2..]) deleted.
 */
const SWAP_SNAPSHOT = `
if (redis.call('HGET', KEYS[1], 'generation') or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'generation', ARGV[2], 'types', ARGV[3], 'count', ARGV[4], 'segments', ARGV[5], 'updatedAt', ARGV[6], 'unconfirmed', ARGV[7])
redis.call('HDEL', KEYS[1], 'pendingGeneration', 'pendingSegments')
for i = 2, #KEYS do redis.call('UNLINK', KEYS[i]) end
return 1`;

export class RedisMirrorStorage implements MirrorStorage {
	constructor(
		private readonly redis: RedisHandle,
		/** The mirror's name (a digest of its TikTok app, ad account and audience). */
		private readonly name: string,
		private readonly about: Record<string, string> = {},
	) {}

	get where(): string {
		return `Redis at ${this.redis.target.address}, keys ${this.key('*')}`;
	}

	private key(suffix: string): string {
		return taggedKey(this.redis.target.keyPrefix, 'mirror', this.name, suffix);
	}

	private segmentKey(generation: number, n: number): string {
		return this.key(`s:${generation}:${n}`);
	}

	private unconfirmedKey(generation: number): string {
		return this.key(`u:${generation}`);
	}

	private logKey(generation: number): string {
		return this.key(`log:${generation}`);
	}

	private async meta(): Promise<Record<string, string>> {
		return await this.redis.client.hgetall(this.key('meta'));
	}

	async readSnapshotInfo(): Promise<SnapshotInfo | undefined> {
		const meta = await this.meta();
		if (!meta.generation) return undefined;
		return {
			generation: Number(meta.generation),
			types: decodeTypes(meta.types.split(',').map(Number)),
			count: Number(meta.count),
			unconfirmed: Number(meta.unconfirmed ?? 0),
		};
	}

	async readUnconfirmed(info: SnapshotInfo): Promise<Buffer> {
		if (info.unconfirmed === 0) return Buffer.alloc(0);
		const records = await this.redis.client.getBuffer(this.unconfirmedKey(info.generation));
		if (!records || records.length !== info.unconfirmed * layoutOf(info.types).width) throw this.damaged(this.unconfirmedKey(info.generation));
		return records;
	}

	async readSnapshot(info: SnapshotInfo, visit: (chunk: Buffer) => void | Promise<void>): Promise<void> {
		const width = layoutOf(info.types).width;
		const meta = await this.meta();
		if (Number(meta.generation) !== info.generation) throw new Error('The mirror memory changed while it was read');
		let records = 0;
		// Read in pieces of about 1 MiB: a whole 4 MiB reply would pass through the client's parser buffers too.
		const piece = Math.max(width, Math.floor(READ_PIECE_BYTES / width) * width);
		for (let n = 0; n < Number(meta.segments); n++) {
			const key = this.segmentKey(info.generation, n);
			for (let start = 0; ; start += piece) {
				const bytes = await this.redis.client.getrangeBuffer(key, start, start + piece - 1);
				if (bytes.length % width !== 0 || (start === 0 && bytes.length === 0)) throw this.damaged(key);
				if (bytes.length > 0) {
					records += bytes.length / width;
					await visit(bytes);
				}
				if (bytes.length < piece) break;
			}
		}
		if (records !== info.count) {
			throw new MirrorDamagedError(`A mirror's memory in Redis (${this.key('meta')}) holds ${records} members, not the ${info.count} it says`);
		}
	}

	/** A key of the memory is gone or holds what the store never wrote: most often evicted (Redis must not evict). */
	private damaged(key: string): MirrorDamagedError {
		return new MirrorDamagedError(
			`Redis key ${key} of a mirror's memory is missing or damaged (Redis may have evicted it: its maxmemory-policy must be noeviction)`,
		);
	}

	private async readList(key: string, visit: (element: Buffer) => void): Promise<void> {
		for (let start = 0; ; start += LIST_PAGE) {
			const page = await this.redis.client.lrangeBuffer(key, start, start + LIST_PAGE - 1);
			for (const element of page) visit(element);
			if (page.length < LIST_PAGE) return;
		}
	}

	async readLog(generation: number, width: number, visit: (entry: LogEntry) => void): Promise<void> {
		await this.readList(this.logKey(generation), (element) => {
			const decoded = decodeEntry(element, 0, width);
			if (decoded) visit(decoded.entry);
		});
	}

	async appendLog(generation: number, entry: LogEntry): Promise<void> {
		const appended = await this.redis.client.eval(APPEND_LOG, 2, this.key('meta'), this.logKey(generation), String(generation), encodeEntry(entry));
		if (Number(appended) !== 1) throw new Error(`The mirror memory in Redis (${this.key('meta')}) was changed by another process`);
	}

	async replaceSnapshot(
		previousGeneration: number,
		types: IdType[],
		produce: (write: ChunkWriter) => Promise<number>,
		unconfirmed: Buffer,
	): Promise<SnapshotInfo> {
		const client = this.redis.client;
		const metaKey = this.key('meta');
		const meta = await this.meta();
		// Segments a crash left behind while writing an earlier snapshot.
		if (meta.pendingGeneration) {
			const pending = Number(meta.pendingGeneration);
			for (let n = 0; n < Number(meta.pendingSegments ?? 0); n++) await client.unlink(this.segmentKey(pending, n));
			await client.unlink(this.unconfirmedKey(pending));
		}
		const generation = previousGeneration + 1;
		const width = layoutOf(types).width;
		const segmentBytes = Math.floor(SEGMENT_BYTES / width) * width;
		await client.hset(metaKey, 'pendingGeneration', String(generation), 'pendingSegments', '0');
		let segments = 0;
		let segment = Buffer.allocUnsafe(segmentBytes);
		let used = 0;
		const flush = async () => {
			if (used === 0) return;
			await client.hset(metaKey, 'pendingSegments', String(segments + 1));
			// A copy of exactly the bytes used: Redis keeps the value as sent.
			await client.set(this.segmentKey(generation, segments), Buffer.from(segment.subarray(0, used)));
			segments++;
			used = 0;
		};
		const count = await produce(async (chunk) => {
			let offset = 0;
			while (offset < chunk.length) {
				const take = Math.min(chunk.length - offset, segmentBytes - used);
				chunk.copy(segment, used, offset, offset + take);
				used += take;
				offset += take;
				if (used === segmentBytes) await flush();
			}
		});
		await flush();
		segment = Buffer.alloc(0);
		if (unconfirmed.length > 0) await client.set(this.unconfirmedKey(generation), unconfirmed);
		const old = [this.logKey(previousGeneration), this.unconfirmedKey(previousGeneration)];
		for (let n = 0; n < Number(meta.segments ?? 0); n++) old.push(this.segmentKey(previousGeneration, n));
		const swapped = await client.eval(
			SWAP_SNAPSHOT,
			1 + old.length,
			metaKey,
			...old,
			String(previousGeneration),
			String(generation),
			encodeTypes(types).join(','),
			String(count),
			String(segments),
			String(Date.now()),
			String(unconfirmed.length / width),
		);
		if (Number(swapped) !== 1) {
			throw new Error(`The mirror memory in Redis (${metaKey}) was changed by another process while a new snapshot was written`);
		}
		if (previousGeneration === 0 && Object.keys(this.about).length > 0) await client.hset(metaKey, this.about);
		return { generation, types, count, unconfirmed: unconfirmed.length / width };
	}

	async readSessions(): Promise<MirrorSession[]> {
		const all = await this.redis.client.hvals(this.key('sessions'));
		return all.map((json) => JSON.parse(json) as MirrorSession);
	}

	async writeSession(session: MirrorSession): Promise<void> {
		await this.redis.client.hset(this.key('sessions'), session.id, JSON.stringify(session));
	}

	async deleteSession(id: string): Promise<void> {
		await this.dropParts(id);
		await this.redis.client.hdel(this.key('sessions'), id);
	}

	async appendPart(id: string, op: StagedOp, records: Buffer, count: number, keepMs: number): Promise<void> {
		const key = this.key(`p:${id}`);
		const width = count > 0 ? records.length / count : 1;
		const perPiece = Math.max(1, Math.floor(SEGMENT_BYTES / width));
		for (let start = 0; start < count; start += perPiece) {
			const pieceCount = Math.min(perPiece, count - start);
			const piece = records.subarray(start * width, (start + pieceCount) * width);
			await this.redis.client.rpush(key, encodeEntry({ op, records: piece, count: pieceCount }));
		}
		if (count > 0) await this.redis.client.pexpire(key, Math.max(1_000, Math.round(keepMs)));
	}

	async readParts(id: string, width: number, visit: (records: Buffer, count: number, op: StagedOp) => void): Promise<void> {
		await this.readList(this.key(`p:${id}`), (element) => {
			const decoded = decodeEntry(element, 0, width);
			if (decoded) visit(decoded.entry.records, decoded.entry.count, decoded.entry.op === 'add' ? 'add' : 'part');
		});
	}

	async dropParts(id: string): Promise<void> {
		await this.redis.client.unlink(this.key(`p:${id}`));
	}

	async forget(): Promise<void> {
		const meta = await this.meta();
		const keys = [this.key('meta'), this.key('sessions')];
		if (meta.generation) {
			keys.push(this.logKey(Number(meta.generation)), this.unconfirmedKey(Number(meta.generation)));
			for (let n = 0; n < Number(meta.segments ?? 0); n++) keys.push(this.segmentKey(Number(meta.generation), n));
		}
		if (meta.pendingGeneration) {
			for (let n = 0; n < Number(meta.pendingSegments ?? 0); n++) keys.push(this.segmentKey(Number(meta.pendingGeneration), n));
			keys.push(this.unconfirmedKey(Number(meta.pendingGeneration)));
		}
		for (const session of await this.readSessions()) keys.push(this.key(`p:${session.id}`));
		for (let start = 0; start < keys.length; start += 500) await this.redis.client.unlink(...keys.slice(start, start + 500));
	}
}
