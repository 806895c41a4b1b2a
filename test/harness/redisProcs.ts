/*
 * Several "processes" of the Redis engine on one scope, against the real Redis on 127.0.0.1:6379: each its own
 * ioredis client and RedisSyncCoordinator on a shared key prefix. Tests make them with a ProcessGroup and dispose it
 * in afterEach: every prefix it handed out is deleted, every client closed.
 */
import { randomUUID } from 'node:crypto';

import Redis from 'ioredis';

import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { RedisSyncCoordinator, type RedisCoordinatorOptions, type SubmitResult, type SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { Activity } from '../../nodes/TikTokBatchSync/engine/activity';
import { RedisStore, type ScriptCaller } from '../../nodes/TikTokBatchSync/engine/redis/store';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import type { Clock } from '../../nodes/TikTokBatchSync/engine';
import type { FakeClock } from './clock';
import { EMAIL_DESTINATION, TEST_REDIS, idleWithin, type FakeTikTok } from './engine';
import { deleteKeysUnder, keysUnder } from './redisKeys';

/** One "process": its own client and coordinator, on a shared prefix. */
export interface Proc {
	redis: Redis;
	coordinator: RedisSyncCoordinator;
}

export class ProcessGroup {
	private readonly prefixes: string[] = [];
	private readonly clients: Redis[] = [];
	private readonly coordinators: RedisSyncCoordinator[] = [];
	readonly admin = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });

	newPrefix(label = 'procs'): string {
		const prefix = `tts-${label}-${randomUUID().slice(0, 8)}`;
		this.prefixes.push(prefix);
		return prefix;
	}

	/** A process on `prefix` (its client to `port`: e.g. a TcpProxy in front of Redis). */
	newProc(prefix: string, clock: Clock, extra: Partial<RedisCoordinatorOptions> = {}, port = TEST_REDIS.port): Proc {
		const redis = new Redis({ ...TEST_REDIS, port, maxRetriesPerRequest: 1 });
		this.clients.push(redis);
		const coordinator = new RedisSyncCoordinator({
			redis,
			keyPrefix: prefix,
			requestCapacity: MAX_USERS_PER_REQUEST,
			clock,
			random: () => 0.5,
			watch: false,
			...extra,
		});
		this.coordinators.push(coordinator);
		return { redis, coordinator };
	}

	/** The scope's store on the process's client, to call its verbs (scripts) directly. */
	storeOf(proc: Proc, scope: string): RedisStore {
		return new RedisStore(proc.redis, proc.redis as unknown as ScriptCaller, proc.coordinator.scopeBase(scope), new Activity());
	}

	async dispose(): Promise<void> {
		for (const coordinator of this.coordinators.splice(0)) {
			coordinator.reset();
			await Promise.race([coordinator.whenIdle(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
		}
		for (const client of this.clients.splice(0)) client.disconnect();
		for (const prefix of this.prefixes.splice(0)) await deleteKeysUnder(this.admin, prefix);
	}

	async close(): Promise<void> {
		await this.dispose();
		await this.admin.quit();
	}
}

/** The clock settles when every given process is idle (loudly failing after `limitMs`: see idleWithin). */
export function idleHook(clock: FakeClock, procs: Proc[], limitMs = 2_000): void {
	clock.idle = idleWithin(procs.map((proc) => proc.coordinator), limitMs);
}

/** Polls (real time) until `check` holds. */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
}

export function submitVia(proc: Proc, tiktok: FakeTikTok, users: SyncUser[], scope: string, settings = {}, extra = {}): Promise<SubmitResult> {
	return proc.coordinator.submit({
		scope,
		destination: EMAIL_DESTINATION,
		users,
		send: tiktok.send,
		pacer: ALREADY_PACED,
		waitForDelivery: false,
		settings,
		...extra,
	});
}

/** Every key under the prefix with its type and contents, for "nothing changed" comparisons. */
export async function snapshot(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
	const out: Record<string, unknown> = {};
	for (const key of (await keysUnder(redis, prefix)).sort()) {
		if (key.includes('}:rq:')) continue;
		const type = await redis.type(key);
		if (type === 'hash') out[key] = await redis.hgetall(key);
		else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
		else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
		else out[key] = await redis.get(key);
	}
	return out;
}
