import { randomUUID } from 'node:crypto';
import { mkdtempSync, promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Redis from 'ioredis';

import { digestHex } from '../../nodes/shared/digest';
import {
	FileMirrorStorage,
	layoutOf,
	mirrorPart,
	RecordSet,
	RedisMirrorStorage,
	encodeEntry,
	writeMember,
	type Layout,
	type MirrorOutcome,
	type MirrorPartInput,
	type MirrorStorage,
} from '../../nodes/shared/mirror';
import { openRedis, type RedisHandle } from '../../nodes/shared/redis/client';
import { selectSyncMode } from '../../nodes/shared/redis/settings';
import { buildMappingRequest, type MappingBatch } from '../../nodes/shared/transport/mapping';
import type { IdType, MappingRequest } from '../../nodes/shared/transport/types';
import { TEST_REDIS } from '../harness/engine';
import { deleteKeysUnder } from '../harness/redisKeys';

/** A person of a test list: identifiers as plain words, hashed the way the node hashes (SHA-256 hex). */
export type Person = Partial<Record<'email' | 'phone', string>>;

const TYPE_OF = { email: 'EMAIL_SHA256', phone: 'PHONE_SHA256' } as const;

export const sha = (value: string) => digestHex('sha256', value);

export function layoutFor(fields: Array<'email' | 'phone'>): Layout {
	return layoutOf(fields.map((field) => TYPE_OF[field]));
}

/** The list's members as the node builds them: one record per person, duplicates merged. */
export function membersOf(layout: Layout, people: Person[]): RecordSet {
	const set = new RecordSet(layout, people.length);
	const scratch = Buffer.alloc(layout.width);
	const slots = layout.types.map((_, slot) => slot);
	for (const person of people) {
		const hexes = layout.types.map((type) => {
			const field = (Object.keys(TYPE_OF) as Array<'email' | 'phone'>).find((name) => TYPE_OF[name] === type);
			const value = field ? person[field] : undefined;
			return value === undefined ? undefined : sha(value);
		});
		writeMember(scratch, 0, layout, slots, hexes);
		set.add(scratch, 0);
	}
	return set;
}

/** `TYPE:hash` of every identifier of the list: what the audience must hold after a mirror. */
export function identifiersOf(people: Person[], fields: Array<'email' | 'phone'>): string[] {
	const out = new Set<string>();
	for (const person of people) for (const field of fields) if (person[field] !== undefined) out.add(`${TYPE_OF[field]}:${sha(person[field] as string)}`);
	return [...out].sort();
}

/**
 * TikTok's audience as the segment-mapping API keeps it (like the local TikTok API): a set of `TYPE:hash`; an add
 * puts every identifier of a row in, a delete takes every one out. `fail` may refuse a request (it then changes
 * nothing); `lose` may accept a request whose answer never arrives (a crash or a timeout after TikTok applied it).
 */
export class AudienceModel {
	readonly members = new Set<string>();
	readonly requests: MappingRequest[] = [];
	fail?: (request: MappingRequest, index: number) => Error | undefined;
	lose?: (request: MappingRequest, index: number) => boolean;

	readonly send = async (batch: MappingBatch): Promise<void> => {
		const request = buildMappingRequest(batch);
		const index = this.requests.length;
		this.requests.push(request);
		const failure = this.fail?.(request, index);
		if (failure) throw failure;
		for (const row of request.batchData) {
			row.forEach((slot, position) => {
				if (!('id' in slot)) return;
				const member = `${request.idSchema[position]}:${slot.id}`;
				if (request.action === 'add') this.members.add(member);
				else this.members.delete(member);
			});
		}
		if (this.lose?.(request, index)) throw new Error('the answer never came');
	};

	sorted(): string[] {
		return [...this.members].sort();
	}

	/** Rows sent with `action`, over all requests from `from` on. */
	rows(action: 'add' | 'delete', from = 0): number {
		return this.requests.slice(from).filter((request) => request.action === action).reduce((sum, request) => sum + request.batchData.length, 0);
	}
}

export interface RunOptions extends Partial<Omit<MirrorPartInput, 'members' | 'send'>> {
	fields?: Array<'email' | 'phone'>;
}

/** One mirror run (or part) of `people` into `audience`, through `storage`. */
export async function mirror(storage: MirrorStorage, audience: AudienceModel, people: Person[], options: RunOptions = {}): Promise<MirrorOutcome> {
	const { fields = ['email'], ...rest } = options;
	const layout = layoutFor(fields);
	return await mirrorPart(storage, {
		advertiserId: '7012345678901234567',
		audienceId: '1790000000000001',
		members: membersOf(layout, people),
		listed: people.length,
		notSynced: 0,
		partKey: randomUUID(),
		lastPart: true,
		dryRun: false,
		abandonAfterMs: 12 * 3_600_000,
		maxRemoveShare: 0.5,
		allowEmptyList: false,
		describeFailure: (error) => (error as Error).message,
		send: audience.send,
		...rest,
	});
}

export function people(count: number, from = 0, withPhone = false): Person[] {
	return Array.from({ length: count }, (_, i) => ({ email: `user${from + i}@example.com`, ...(withPhone ? { phone: `+1415555${String(from + i).padStart(4, '0')}` } : {}) }));
}

/** A storage per kind, made fresh for each test and cleaned up after it. */
export interface StorageKind {
	name: 'disk' | 'redis';
	make(name?: string): MirrorStorage;
	cleanup(): Promise<void>;
}

export function diskStorages(): StorageKind {
	let root = '';
	return {
		name: 'disk',
		make(name = 'mirror') {
			if (!root) root = mkdtempSync(join(process.env.TIKTOK_TEST_TMP ?? tmpdir(), 'mirror-'));
			return new FileMirrorStorage(join(root, name), { audienceId: name });
		},
		async cleanup() {
			root = '';
		},
	};
}

export function redisHandle(prefix: string): RedisHandle {
	const mode = selectSyncMode(
		{ N8N_TIKTOK_SYNC_REDIS: `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`, N8N_TIKTOK_SYNC_REDIS_PREFIX: prefix },
		['node', 'n8n', 'worker'],
	);
	if (mode.kind !== 'redis') throw new Error('expected Redis mode');
	return { client: openRedis(mode.target), target: mode.target };
}

export function redisStorages(): StorageKind {
	let prefix = '';
	let handle: RedisHandle | undefined;
	return {
		name: 'redis',
		make(name = 'mirror') {
			if (!handle) {
				prefix = `tts-mirror-${randomUUID().slice(0, 8)}`;
				handle = redisHandle(prefix);
			}
			return new RedisMirrorStorage(handle, name, { audienceId: name });
		},
		async cleanup() {
			if (!handle) return;
			const cleaner = new Redis(TEST_REDIS);
			await deleteKeysUnder(cleaner, prefix);
			await cleaner.quit();
			handle.client.disconnect();
			handle = undefined;
		},
	};
}

/** Thrown by crashingStore: the process died there. */
export class Crash extends Error {
	override readonly name = 'Crash';
}

/**
 * `storage` as a process sees it that dies at its `at`-th write (1-based): that write throws Crash. With `torn`, a
 * disk append dies halfway, leaving half of its entry in the file, as a crash in the middle of a write does.
 */
export function crashingStore(storage: MirrorStorage, at: number, torn: boolean): MirrorStorage {
	let writes = 0;
	const dying: MirrorStorage = Object.create(storage);
	const crashHere = async (file: string, entry: Buffer) => {
		if (++writes !== at) return false;
		if (torn && storage instanceof FileMirrorStorage) {
			await fs.mkdir(storage.dir, { recursive: true });
			await fs.appendFile(join(storage.dir, file), entry.subarray(0, entry.length >> 1));
		}
		return true;
	};
	dying.appendLog = async (generation, entry) => {
		if (await crashHere(`log-${generation}.bin`, encodeEntry(entry))) throw new Crash('appendLog');
		await storage.appendLog(generation, entry);
	};
	dying.appendPart = async (id, op, records, count, keepMs) => {
		if (await crashHere(`part-${id}.bin`, encodeEntry({ op, records, count }))) throw new Crash('appendPart');
		await storage.appendPart(id, op, records, count, keepMs);
	};
	const plain = <K extends 'writeSession' | 'replaceSnapshot' | 'dropParts'>(name: K) => {
		dying[name] = (async (...args: unknown[]) => {
			if (++writes === at) throw new Crash(name);
			return await (storage[name] as (...a: unknown[]) => Promise<unknown>)(...args);
		}) as MirrorStorage[K];
	};
	plain('writeSession');
	plain('replaceSnapshot');
	plain('dropParts');
	return dying;
}

export type { IdType };
