import { buildMappingRequest, type MappingBatch } from '../../nodes/shared/transport/mapping';
import type { MappingRequest } from '../../nodes/shared/transport/types';
import { randomUUID } from 'node:crypto';

import Redis from 'ioredis';

import {
	RedisSyncCoordinator,
	SendFailure,
	type BatchSyncEngine,
	type Clock,
	type Destination,
	type SubmitRequest,
	type SyncCoordinator,
	type SyncUser,
} from '../../nodes/TikTokBatchSync/engine';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { classifyForEngine } from '../../nodes/TikTokBatchSync/sender';
import { FakeClock } from './clock';
import { deleteKeysUnder } from './redisKeys';

export { deleteKeysUnder, keysUnder } from './redisKeys';

export interface RecordedCall {
	at: number;
	request: MappingRequest;
}

/** A fake TikTok: records each request; `fail` decides per call whether (and how) it fails. */
export class FakeTikTok {
	readonly calls: RecordedCall[] = [];
	/** May be async (e.g. to read the engine's counters while a request is in flight). */
	fail: ((request: MappingRequest, callIndex: number) => unknown) | undefined;

	constructor(private readonly clock: Clock) {}

	/** The engine's sender: the request the nodes would build, failures classified as the nodes classify them. */
	readonly send = async (batch: MappingBatch): Promise<void> => {
		const request = buildMappingRequest(batch);
		const index = this.calls.length;
		this.calls.push({ at: this.clock.now(), request });
		const failure = await this.fail?.(request, index);
		if (failure !== undefined) throw new SendFailure(classifyForEngine(failure));
	};

	get callTimes(): number[] {
		return this.calls.map((call) => call.at);
	}

	/** Every id sent in slot 0, in order. */
	sentIds(slot = 0): string[] {
		return this.calls.flatMap((call) =>
			call.request.batchData.map((row) => (row[slot] as { id?: string }).id).filter((id): id is string => !!id),
		);
	}
}

export const EMAIL_DESTINATION: Destination = {
	advertiserId: 'adv-1',
	audienceId: 'aud-1',
	action: 'add',
	idSchema: ['EMAIL_SHA256'],
};

/** A lowercase 64-hex id, distinct per (n, salt), like a SHA-256. */
export function hexId(n: number, salt = 'a'): string {
	return (salt + n.toString(16)).padStart(64, '0');
}

export function emailUsers(count: number, from = 0, salt = 'a'): SyncUser[] {
	const users: SyncUser[] = [];
	for (let n = from; n < from + count; n++) {
		const id = hexId(n, salt);
		users.push({ key: id, ids: [id] });
	}
	return users;
}

/** The counters' invariant, plus no negative bucket. Returns the counters for further checks. */
export async function expectWhole(coordinator: BatchSyncEngine, scope: string) {
	const counters = await coordinator.report(scope);
	expect(counters.entered).toBe(counters.synced + counters.notSynced + counters.pending + counters.errored);
	for (const value of [counters.synced, counters.notSynced, counters.pending, counters.errored]) {
		expect(value).toBeGreaterThanOrEqual(0);
	}
	return counters;
}

export type EngineKind = 'in-process' | 'redis';
/** The behavioural suites run against both engines; the Redis one against the real Redis on 127.0.0.1:6379. */
export const ENGINE_KINDS: EngineKind[] = ['in-process', 'redis'];
export const TEST_REDIS = { host: '127.0.0.1', port: Number(process.env.TEST_REDIS_PORT ?? 6379) };

export interface EngineUnderTest {
	kind: EngineKind;
	clock: FakeClock;
	tiktok: FakeTikTok;
	coordinator: BatchSyncEngine;
	/** Stops the engine; for Redis also deletes every key of its (unique) prefix and closes the client. */
	dispose(): Promise<void>;
}

/**
 * A FakeClock idle hook: resolves when every engine has no I/O under way. An engine still busy after `limitMs` of
 * real time fails the test loudly (a send that hangs must be released by the test, not waited out in silence).
 */
export function idleWithin(engines: Array<{ whenIdle(): Promise<boolean> }>, limitMs = 2_000): () => Promise<boolean> {
	return async () => {
		let timer: NodeJS.Timeout | undefined;
		const limit = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new Error(`the engine was not idle within ${limitMs} ms${engines.length > 1 ? ` (busy: ${busy.join(', ')} of ${engines.length})` : ''}`)), limitMs);
		});
		const busy: number[] = engines.map((_, index) => index);
		try {
			const waits = engines.map((engine, index) => engine.whenIdle().then((idle) => (busy.splice(busy.indexOf(index), 1), idle)));
			const idle = await Promise.race([Promise.all(waits), limit]);
			return idle.every(Boolean);
		} finally {
			clearTimeout(timer);
		}
	};
}

/** A fresh fake clock, fake TikTok and engine (deterministic jitter), as each engine test starts with. */
export function freshEngine(kind: EngineKind = 'in-process', options: { maxRequestsInFlight?: number } = {}): EngineUnderTest {
	const clock = new FakeClock();
	const tiktok = new FakeTikTok(clock);
	if (kind === 'in-process') {
		const coordinator = newTikTokCoordinator({ clock, random: () => 0.5, ...options });
		return { kind, clock, tiktok, coordinator, dispose: async () => coordinator.reset() };
	}
	const redis = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });
	const keyPrefix = `tts-test-${randomUUID().slice(0, 8)}`;
	const coordinator = new RedisSyncCoordinator({
		redis,
		keyPrefix,
		requestCapacity: MAX_USERS_PER_REQUEST,
		clock,
		random: () => 0.5,
		// Only the fake clock's timers and its own settles: a test covers 13 h without real-time waits.
		watch: false,
		...options,
	});
	clock.idle = idleWithin([coordinator]);
	return {
		kind,
		clock,
		tiktok,
		coordinator,
		dispose: async () => {
			coordinator.reset();
			await coordinator.whenIdle();
			await deleteKeysUnder(redis, keyPrefix);
			await redis.quit();
		},
	};
}

/**
 * A new process taking over the scope, its clock at `clock`: in-process through the journal the old one wrote; on
 * Redis by sharing its keys (the new coordinator learns the scope from a flush, as a Flush & Report would start it).
 * The old engine stops. Returns the new engine (dispose it with the old one's dispose, which cleans Redis).
 */
export async function restartEngine(engine: EngineUnderTest, scope: string, clock: FakeClock, tiktok: FakeTikTok): Promise<BatchSyncEngine> {
	if (engine.kind === 'in-process') {
		const old = engine.coordinator as SyncCoordinator;
		const journal = JSON.parse(JSON.stringify(old.exportJournal(scope)));
		old.reset();
		const restarted = newTikTokCoordinator({ clock, random: () => 0.5 });
		restarted.restore(scope, journal, tiktok.send, ALREADY_PACED);
		return restarted;
	}
	const old = engine.coordinator as RedisSyncCoordinator;
	old.reset();
	const restarted = new RedisSyncCoordinator({
		redis: old.client,
		keyPrefix: old.prefix,
		requestCapacity: MAX_USERS_PER_REQUEST,
		clock,
		random: () => 0.5,
		watch: false,
	});
	clock.idle = idleWithin([restarted]);
	await restarted.flush(scope, { send: tiktok.send, pacer: ALREADY_PACED });
	return restarted;
}

/** Submit email users to `scope` through the fake TikTok, without waiting for delivery unless `extra` says so. */
export function submitEmails(
	engine: { tiktok: FakeTikTok; coordinator: BatchSyncEngine },
	scope: string,
	users: SyncUser[],
	extra: Partial<SubmitRequest> = {},
) {
	return engine.coordinator.submit({
		scope,
		destination: EMAIL_DESTINATION,
		users,
		send: engine.tiktok.send,
		pacer: ALREADY_PACED,
		waitForDelivery: false,
		...extra,
	});
}
