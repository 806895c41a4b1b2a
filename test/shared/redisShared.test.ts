/**
 * What both nodes share in Redis mode, on real Redis servers: the cross-process lock, the one Redis failure message,
 * the persistence check, and the TikTok Audience node using them (audience names, the app's budget) through n8n-core.
 */
import { randomUUID } from 'node:crypto';

import Redis from 'ioredis';
import type { IDataObject, INode } from 'n8n-workflow';

import { resetAudienceMemory } from '../../nodes/shared/audiences';
import { audienceNamesOn } from '../../nodes/shared/redis/audienceNames';
import { noPersistenceWarning, openRedis, redisFailure, redisPersists, RedisUnavailableError, type RedisHandle } from '../../nodes/shared/redis/client';
import { lockKey, LockWaitTimeoutError, withRedisLock } from '../../nodes/shared/redis/lock';
import { selectSyncMode, type RedisTarget } from '../../nodes/shared/redis/settings';
import { setSharedStateForTests, type SharedState } from '../../nodes/shared/sharedState';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { deleteKeysUnder, keysUnder, TEST_REDIS } from '../harness/engine';
import { accessTokenCredentials, addParameters, audienceNode, locator, US } from '../harness/fixtures';
import { chain, itemsNode, outputOf, runWorkflow } from '../harness/n8n';
import { freePort, startRedisServer } from '../harness/redisServer';
import { TcpProxy } from '../harness/tcpProxy';
import { startTikTokLocal, type TikTokLocal } from '../tiktok-local/server';

let prefix: string;
const opened: Redis[] = [];

function targetFor(url: string, keyPrefix = prefix): RedisTarget {
	const mode = selectSyncMode({ N8N_TIKTOK_SYNC_REDIS: url, N8N_TIKTOK_SYNC_REDIS_PREFIX: keyPrefix }, ['node', 'n8n', 'worker']);
	if (mode.kind !== 'redis') throw new Error('expected Redis mode');
	return mode.target;
}

/** A "process": its own client on the test Redis, with the package's client settings. */
function handle(url = `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`): RedisHandle {
	const target = targetFor(url);
	const client = openRedis(target) as Redis;
	opened.push(client);
	return { client, target };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(() => {
	prefix = `tts-shared-${randomUUID().slice(0, 8)}`;
});

afterEach(async () => {
	setSharedStateForTests(undefined);
	const cleaner = new Redis(TEST_REDIS);
	await deleteKeysUnder(cleaner, prefix);
	await cleaner.quit();
	for (const client of opened.splice(0)) client.disconnect();
});

describe('withRedisLock', () => {
	it('lets one process at a time in across clients, and frees the key after', async () => {
		const [a, b] = [handle(), handle()];
		let inside = 0;
		let most = 0;
		let runs = 0;
		const work = async () => {
			inside++;
			runs++;
			most = Math.max(most, inside);
			await sleep(15);
			inside--;
		};
		await Promise.all([1, 2, 3, 4].flatMap(() => [withRedisLock(a, 'x', work), withRedisLock(b, 'x', work)]));
		expect(most).toBe(1);
		expect(runs).toBe(8);
		expect(await a.client.exists(lockKey(prefix, 'x'))).toBe(0);
	});

	it('not taken in time: fails with a clear message naming what it protects, and the work does not run', async () => {
		const [holder, waiter] = [handle(), handle()];
		let release!: () => void;
		const held = withRedisLock(holder, 'busy', () => new Promise<void>((resolve) => (release = resolve)));
		await sleep(50);
		let ran = false;
		const startedAt = Date.now();
		const error = await withRedisLock(
			waiter,
			'busy',
			async () => {
				ran = true;
			},
			{ waitMs: 400, what: 'the audience "Buyers"' },
		).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(LockWaitTimeoutError);
		expect((error as Error).message).toContain('the audience "Buyers"');
		expect((error as Error).message).toMatch(/Run it again/);
		expect(Date.now() - startedAt).toBeGreaterThanOrEqual(390);
		expect(ran).toBe(false);
		release();
		await held;
	});

	it('is extended while the work runs past its lease, so no other process gets in', async () => {
		const [holder, other] = [handle(), handle()];
		const key = lockKey(prefix, 'long');
		const attempts: unknown[] = [];
		await withRedisLock(
			holder,
			'long',
			async () => {
				for (const at of [700, 1_400, 2_100]) {
					await sleep(at === 700 ? 700 : 700);
					// The lease is 1 s: without extensions the key would be gone by the second look.
					expect(await holder.client.pttl(key)).toBeGreaterThan(0);
					attempts.push(await withRedisLock(other, 'long', async () => 'got in', { waitMs: 0 }).catch((error: unknown) => error));
				}
			},
			{ leaseMs: 1_000 },
		);
		expect(attempts).toHaveLength(3);
		for (const attempt of attempts) expect(attempt).toBeInstanceOf(LockWaitTimeoutError);
		expect(await holder.client.exists(key)).toBe(0);
	});

	it('a lock taken over by another process aborts the work’s signal, and the holder does not delete the new owner’s key', async () => {
		const holder = handle();
		const key = lockKey(prefix, 'lost');
		let aborted: unknown;
		await withRedisLock(
			holder,
			'lost',
			async (signal) => {
				await holder.client.set(key, 'someone-else', 'PX', 10_000);
				const deadline = Date.now() + 2_000;
				while (!signal.aborted && Date.now() < deadline) await sleep(20);
				aborted = signal.reason;
			},
			{ leaseMs: 1_000 },
		);
		expect(String((aborted as Error)?.message)).toMatch(/taken over/);
		expect(await holder.client.get(key)).toBe('someone-else');
	});

	it('Redis unreachable: the one Redis message, naming the address and the setting', async () => {
		const port = await freePort();
		const down = handle(`redis://127.0.0.1:${port}`);
		const error = await withRedisLock(down, 'x', async () => undefined).catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(RedisUnavailableError);
		expect((error as Error).message).toContain(`cannot reach Redis at 127.0.0.1:${port} (from N8N_TIKTOK_SYNC_REDIS): connection refused`);
		expect((error as Error).message).not.toMatch(/max retries|ECONNREFUSED/);
	});
});

describe('audience names across processes', () => {
	it('the name’s lock held elsewhere past the wait: a clear error naming the audience, and the lookup does not run without the lock', async () => {
		const names = audienceNamesOn(handle(), { waitMs: 300 });
		const key = `https://business-api.tiktok.com\u0000${US}\u0000Buyers`;
		let release!: () => void;
		const held = audienceNamesOn(handle()).withLock(key, () => new Promise<void>((resolve) => (release = resolve)));
		await sleep(50);
		let ran = false;
		const error = await names
			.withLock(key, async () => {
				ran = true;
			})
			.catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(LockWaitTimeoutError);
		expect((error as Error).message).toContain(`the audience name "Buyers" of ad account ${US}`);
		expect(ran).toBe(false);
		release();
		await held;
	});

	it('Redis lost after the name’s lock was taken: looking up and noting the ID fail with the one Redis message, not ioredis’s', async () => {
		const proxy = await TcpProxy.start(TEST_REDIS);
		try {
			const { port } = proxy;
			const names = audienceNamesOn(handle(`redis://127.0.0.1:${port}`));
			const key = `https://business-api.tiktok.com\u0000${US}\u0000Buyers`;
			const failures = await names.withLock(key, async () => {
				// Redis goes away while the lock is held (the port now refuses connections).
				await proxy.close();
				return [await names.recall(key).catch((error: unknown) => error), await names.note(key, '1790000000000001').catch((error: unknown) => error)];
			});
			for (const failure of failures) {
				expect(failure).toBeInstanceOf(RedisUnavailableError);
				expect((failure as Error).message).toContain(`cannot reach Redis at 127.0.0.1:${port} (from N8N_TIKTOK_SYNC_REDIS): connection refused`);
				expect((failure as Error).message).not.toMatch(/max retries|ECONNREFUSED/i);
			}
		} finally {
			await proxy.close().catch(() => undefined);
		}
	});
});

describe('redisFailure', () => {
	it('quotes what Redis answered when it answered with an error, naming the Redis', async () => {
		const { client, target } = handle();
		const reply = await client.eval(`return redis.error_reply('OOM command not allowed when used memory > maxmemory')`, 0).catch((error: unknown) => error);
		const failure = redisFailure(target, client, reply);
		expect(failure.message).toContain(`Redis at ${TEST_REDIS.host}:${TEST_REDIS.port} (from N8N_TIKTOK_SYNC_REDIS) answered with an error: OOM command not allowed`);
		expect(failure.message).not.toContain('cannot reach');
		// Worded once: wording it again changes nothing.
		expect(redisFailure(target, client, failure)).toBe(failure);
	});
});

describe('redisPersists', () => {
	it('tells a Redis that keeps nothing from one with an append-only file or snapshots', async () => {
		const servers = await Promise.all([
			startRedisServer(['--save', '', '--appendonly', 'no']),
			startRedisServer(['--save', '', '--appendonly', 'yes']),
			startRedisServer(['--save', '3600 1', '--appendonly', 'no']),
		]);
		try {
			const answers = [];
			for (const server of servers) answers.push(await redisPersists(handle(server.url).client));
			expect(answers).toEqual([false, true, true]);
			const warning = noPersistenceWarning(targetFor(servers[0].url));
			expect(warning).toContain(`127.0.0.1:${servers[0].port}`);
			expect(warning).toMatch(/appendonly/);
		} finally {
			await Promise.all(servers.map((server) => server.stop()));
		}
	});
});

describe('the TikTok Audience node in Redis mode', () => {
	let local: TikTokLocal;

	beforeAll(async () => {
		local = await startTikTokLocal();
	});
	afterAll(async () => {
		await local.close();
	});
	beforeEach(() => {
		local.reset();
		resetAudienceMemory();
		resetPacers();
	});

	function becomeProcess(url?: string): SharedState {
		const redis = handle(url);
		const state: SharedState = { mode: { kind: 'redis', why: 'test', target: redis.target }, redis, logged: true };
		setSharedStateForTests(state);
		return state;
	}

	async function run(parameters: IDataObject, items: IDataObject[]) {
		const node: INode = audienceNode(parameters);
		const { run: result } = await runWorkflow({ nodes: [itemsNode(items), node], connections: chain('Items', node.name), credentials: accessTokenCredentials(local) });
		const error = result.data.resultData.error?.message;
		return { error, json: error ? [] : outputOf(result, node.name).map((item) => item.json) };
	}

	it('creating an audience by name waits for the lock another process holds, then makes exactly one', async () => {
		becomeProcess();
		const other = handle();
		const name = 'Shared across workers';
		const key = `${local.url}\u0000${US}\u0000${name}`;
		let release!: () => void;
		const held = withRedisLock(other, `audience:${key}`, () => new Promise<void>((resolve) => (release = resolve)));
		await sleep(50);
		const creating = run({ resource: 'audience', operation: 'create', advertiserId: locator(US), name }, [{}]);
		await sleep(600);
		// Still waiting: nothing was created while the other process held the name's lock.
		expect(local.stats().audiences.filter((audience) => audience.name === name)).toHaveLength(0);
		release();
		await held;
		const result = await creating;
		expect(result.error).toBeUndefined();
		expect(result.json[0]).toMatchObject({ created: true, name });
		expect(local.stats().audiences.filter((audience) => audience.name === name && !audience.deleted)).toHaveLength(1);
		// The created ID is noted for other processes (TikTok's list may lag behind).
		const keys = await keysUnder(other.client as Redis, prefix);
		expect(keys.some((stored) => /\{v:[0-9a-f]+\}:value$/.test(stored))).toBe(true);
	});

	it('Redis unreachable while resolving an audience by name: the one Redis message, not ioredis’s', async () => {
		const port = await freePort();
		becomeProcess(`redis://127.0.0.1:${port}`);
		const result = await run(addParameters('', { audienceSelection: 'byName', audienceName: 'Down' }), [{ email: 'a@example.com' }]);
		expect(result.error).toContain(`cannot reach Redis at 127.0.0.1:${port} (from N8N_TIKTOK_SYNC_REDIS): connection refused`);
		expect(result.error).not.toMatch(/max retries per request/i);
		expect(result.error).not.toContain('a@example.com');
	});

	it('an ad account ID that is not a number fails in the node with a clear message (no n8n regex guard involved)', async () => {
		becomeProcess();
		const result = await run({ resource: 'audience', operation: 'getMany', advertiserId: locator('12ab') }, [{}]);
		expect(result.error).toMatch(/An ad account ID is a number of 5–25 digits, e\.g\. \d+; got "12ab"/);
	});
});
