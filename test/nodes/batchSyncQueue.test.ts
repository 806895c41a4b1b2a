/**
 * The Batch Sync node in queue mode, through n8n-core's engine: its state in the real Redis (127.0.0.1:6379, a
 * unique key prefix per test), two "processes" (two engines with their own clients on one prefix, as two workers
 * are), the local TikTok API over loopback.
 */
import { existsSync, rmSync } from 'node:fs';

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';

import { Logger } from '@n8n/backend-common';
import { Container } from '@n8n/di';
import Redis from 'ioredis';
import type { IDataObject, IRun } from 'n8n-workflow';

import { resetAudienceMemory } from '../../nodes/shared/audiences';
import { getSharedState } from '../../nodes/shared/sharedState';
import { pacerFor, resetPacers } from '../../nodes/shared/transport/rateLimit';
import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { newTikTokCoordinator, setCoordinatorForTests } from '../../nodes/TikTokBatchSync/coordinator';
import { RedisSyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { RedisPacer } from '../../nodes/shared/redis/pacer';
import { journalFilePath, journalFolder, resetJournalMemory, STATIC_DATA_KEY } from '../../nodes/TikTokBatchSync/journalStore';
import { forgetReusedSenders } from '../../nodes/TikTokBatchSync/sender';
import { openRedis, type RedisHandle } from '../../nodes/shared/redis/client';
import { withRedisLock } from '../../nodes/shared/redis/lock';
import { selectSyncMode, type SyncMode } from '../../nodes/shared/redis/settings';
import { accessTokenCredentials, BATCH_NODE_NAME as NAME, batchNode, createAudience, expectInvariant, syncParameters } from '../harness/fixtures';
import { deleteKeysUnder, keysUnder, TEST_REDIS } from '../harness/engine';
import { chain, itemsNode, outputOf, runWorkflow } from '../harness/n8n';
import { freePort, startRedisServer } from '../harness/redisServer';
import { startTikTokLocal, type TikTokLocal } from '../tiktok-local/server';

let local: TikTokLocal;
let prefix: string;
const clients: Redis[] = [];
const engines: RedisSyncCoordinator[] = [];

interface Execution {
	run: IRun;
	staticData: IDataObject;
	metrics: IDataObject;
	users: IDataObject[];
	error?: string;
}

function modeFor(keyPrefix: string): SyncMode {
	return selectSyncMode({ N8N_TIKTOK_SYNC_REDIS: `redis://${TEST_REDIS.host}:${TEST_REDIS.port}`, N8N_TIKTOK_SYNC_REDIS_PREFIX: keyPrefix }, ['node', 'n8n', 'worker']);
}

/** A "worker process" on another Redis (by URL), with the package's own client settings. */
function becomeProcessOn(url: string): void {
	const mode = selectSyncMode({ N8N_TIKTOK_SYNC_REDIS: url, N8N_TIKTOK_SYNC_REDIS_PREFIX: prefix }, ['node', 'n8n', 'worker']);
	if (mode.kind !== 'redis') throw new Error('expected Redis mode');
	const redis = openRedis(mode.target) as Redis;
	clients.push(redis);
	const engine = new RedisSyncCoordinator({ redis, keyPrefix: prefix, requestCapacity: MAX_USERS_PER_REQUEST });
	engines.push(engine);
	setCoordinatorForTests(engine, { mode, redis });
}

/** A client of another "process" on the shared prefix, for the package's shared Redis pieces. */
function handleOn(): RedisHandle {
	const mode = modeFor(prefix);
	if (mode.kind !== 'redis') throw new Error('expected Redis mode');
	const client = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });
	clients.push(client);
	return { client, target: mode.target };
}

/** A new "worker process": its own Redis client and engine on the shared prefix, and none of the other's memory. */
function becomeProcess(): RedisSyncCoordinator {
	const redis = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });
	clients.push(redis);
	const engine = new RedisSyncCoordinator({ redis, keyPrefix: prefix, requestCapacity: MAX_USERS_PER_REQUEST });
	engines.push(engine);
	setCoordinatorForTests(engine, { mode: modeFor(prefix), redis });
	resetJournalMemory();
	forgetReusedSenders();
	resetPacers();
	resetAudienceMemory();
	return engine;
}

async function execute(parameters: IDataObject, items: IDataObject[], staticData: IDataObject = {}): Promise<Execution> {
	const { run, staticData: saved } = await runWorkflow({
		nodes: [itemsNode(items), batchNode(parameters)],
		connections: chain('Items', NAME),
		credentials: accessTokenCredentials(local),
		staticData,
		mode: 'webhook',
		workflowId: 'wf-queue',
	});
	const error = run.data.resultData.error?.message;
	return {
		run,
		staticData: JSON.parse(JSON.stringify(saved)) as IDataObject,
		metrics: error ? {} : outputOf(run, NAME, 0)[0].json,
		users: error ? [] : outputOf(run, NAME, 1).map((item) => item.json),
		...(error ? { error } : {}),
	};
}

const emails = (count: number, tag: string) => Array.from({ length: count }, (_, i) => ({ email: `${tag}${i}@example.com` }));

beforeAll(async () => {
	local = await startTikTokLocal();
});

afterAll(async () => {
	await local.close();
});

beforeEach(() => {
	prefix = `tts-node-${randomUUID().slice(0, 8)}`;
	local.reset();
	resetJournalMemory();
	forgetReusedSenders();
	rmSync(journalFolder(), { recursive: true, force: true });
});

afterEach(async () => {
	for (const engine of engines.splice(0)) engine.reset();
	setCoordinatorForTests(undefined);
	const cleaner = new Redis(TEST_REDIS);
	await deleteKeysUnder(cleaner, prefix);
	await cleaner.quit();
	for (const client of clients.splice(0)) client.disconnect();
});

it('users taken in by two workers share one window and one request; Flush & Report on either reports them all', async () => {
	const audienceId = await createAudience(local, 'queue');
	becomeProcess();
	const first = await execute(syncParameters(audienceId, { windowSeconds: 60 }), emails(3, 'w1-'));
	// Auto: in queue mode the run returns at once, with its users pending, and says so.
	expect(first.metrics).toMatchObject({ engine: 'redis', waitedForDelivery: false, entered: 3, pending: 3 });
	expect(first.metrics.note).toMatch(/Queue mode/);
	expect((first.users[0].tiktokSync as IDataObject).status).toBe('pending');

	becomeProcess();
	const second = await execute(syncParameters(audienceId, { windowSeconds: 60 }), emails(2, 'w2-'));
	expect((second.metrics.totals as IDataObject).entered).toBe(5);

	becomeProcess();
	const flush = await execute({ operation: 'flush' }, [{}]);
	expect(flush.metrics).toMatchObject({ operation: 'flush', entered: 5, synced: 5, pending: 0, errored: 0 });
	expect((flush.metrics.nodes as IDataObject)[NAME]).toMatchObject({ entered: 5, synced: 5 });
	expect(local.memberCount(audienceId)).toBe(5);
	expect(local.stats().byPath['segment/mapping/']).toBe(1);
	expectInvariant(flush.metrics);
	// Only hashed identifiers in Redis; every key under the prefix, with its scope's hash tag or the app's, and a TTL.
	const redis = new Redis(TEST_REDIS);
	const keys = await keysUnder(redis, prefix);
	expect(keys.length).toBeGreaterThan(3);
	for (const key of keys) {
		expect(key).toMatch(new RegExp(`^${prefix}:\\{(s|g|app):[0-9a-f]+\\}:`));
		expect(await redis.pttl(key)).toBeGreaterThan(0);
		const type = await redis.type(key);
		const dump = type === 'hash' ? JSON.stringify(await redis.hgetall(key)) : type === 'string' ? String(await redis.get(key)) : '';
		expect(dump).not.toMatch(/example\.com/);
	}
	await redis.quit();
});

it('Wait for Delivery "Wait" still waits in queue mode, and reports each user synced', async () => {
	const audienceId = await createAudience(local, 'queue-wait');
	becomeProcess();
	const run = await execute(syncParameters(audienceId, { windowSeconds: 0.2, waitForDelivery: 'wait' }), emails(4, 'wait-'));
	expect(run.metrics).toMatchObject({ engine: 'redis', waitedForDelivery: true, entered: 4, synced: 4, pending: 0 });
	expect(run.users.map((user) => (user.tiktokSync as IDataObject).status)).toEqual(['synced', 'synced', 'synced', 'synced']);
	// A workflow saved before Auto (a boolean) keeps its meaning.
	const legacy = await execute(syncParameters(audienceId, { windowSeconds: 0.2, waitForDelivery: true }), emails(1, 'legacy-'));
	expect(legacy.metrics).toMatchObject({ waitedForDelivery: true, synced: 1 });
});

it('a regular-mode journal file moves into Redis once: delivered, counted once, the file removed', async () => {
	const audienceId = await createAudience(local, 'migrate file');
	// Regular mode: TikTok failing, 20 users pending in the node's journal file.
	setCoordinatorForTests(newTikTokCoordinator());
	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
	const before = await execute(syncParameters(audienceId), emails(20, 'file-'));
	expect(before.metrics).toMatchObject({ engine: 'in-process', entered: 20, pending: 20 });
	expect(existsSync(journalFilePath('wf-queue', NAME))).toBe(true);
	(setCoordinatorForTests(undefined) as { reset(): void }).reset();
	local.clearFaults();

	// Queue mode on the same machine: the first Flush & Report moves and sends them, and removes the file.
	becomeProcess();
	const flush = await execute({ operation: 'flush' }, [{}]);
	expect(flush.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0, errored: 0 });
	expect(local.memberCount(audienceId)).toBe(20);
	expect(existsSync(journalFilePath('wf-queue', NAME))).toBe(false);

	// Another worker: nothing left to move, counts unchanged.
	becomeProcess();
	const again = await execute({ operation: 'flush' }, [{}]);
	expect(again.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0 });
	expect(local.memberCount(audienceId)).toBe(20);
});

it('a static-data journal an earlier build wrote moves into Redis once: delivered, counted once, removed from static data', async () => {
	const audienceId = await createAudience(local, 'migrate');
	// Regular mode: TikTok failing, 20 users pending; the journal as earlier builds kept it in static data.
	const regular = newTikTokCoordinator();
	setCoordinatorForTests(regular);
	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
	const before = await execute(syncParameters(audienceId), emails(20, 'old-'));
	expect(before.metrics).toMatchObject({ engine: 'in-process', entered: 20, pending: 20 });
	const journaled: IDataObject = {
		global: { [STATIC_DATA_KEY]: { version: 1, nodes: { [NAME]: JSON.parse(JSON.stringify(regular.exportJournal(`wf-queue:${NAME}`))) } } },
	};
	rmSync(journalFolder(), { recursive: true, force: true });
	(setCoordinatorForTests(undefined) as { reset(): void }).reset();
	local.clearFaults();

	// Queue mode (n8n 1.x still hands workers the static data): the first Flush & Report moves and sends them.
	becomeProcess();
	const flush = await execute({ operation: 'flush' }, [{}], structuredClone(journaled));
	expect(flush.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0, errored: 0 });
	expect(local.memberCount(audienceId)).toBe(20);
	expect((flush.staticData.global as IDataObject)[STATIC_DATA_KEY]).toBeUndefined();

	// Another worker handed the same old static data: not moved twice, counts unchanged.
	becomeProcess();
	const again = await execute({ operation: 'flush' }, [{}], structuredClone(journaled));
	expect(again.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0 });
	expect(local.stats().byPath['segment/mapping/']).toBeGreaterThanOrEqual(1);
	expect(local.memberCount(audienceId)).toBe(20);
});

it('Redis unreachable: the users are rejected with an error naming the setting and the address, nothing counted', async () => {
	const audienceId = await createAudience(local, 'redis-down');
	const port = await closedPort();
	becomeProcessOn(`redis://127.0.0.1:${port}`);
	const run = await execute(syncParameters(audienceId), emails(3, 'down-'));
	expect(run.error).toContain('N8N_TIKTOK_SYNC_REDIS');
	expect(run.error).toContain(`127.0.0.1:${port}`);
	expect(run.error).toContain('connection refused');
	expect(local.stats().byPath['segment/mapping/'] ?? 0).toBe(0);
	const flush = await execute({ operation: 'flush' }, [{}]);
	expect(flush.error).toContain(`127.0.0.1:${port}`);
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as { port: number };
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

it('workers resolving one audience name at once hold one lock across processes: one audience is made', async () => {
	becomeProcess();
	// Two processes each run four lookups-or-creates of one name at the same time, through their own clients.
	const processes = [handleOn(), handleOn()];
	let inside = 0;
	let mostInside = 0;
	const work = async () => {
		inside++;
		mostInside = Math.max(mostInside, inside);
		await new Promise((resolve) => setTimeout(resolve, 20));
		inside--;
	};
	await Promise.all([1, 2, 3, 4].flatMap(() => processes.map((process) => withRedisLock(process, 'audience:x', work))));
	expect(mostInside).toBe(1);

	// Through the node: eight runs by name over two processes make one audience.
	const runs: Array<Promise<Execution>> = [];
	for (let run = 0; run < 8; run++) {
		if (run === 4) becomeProcess();
		runs.push(execute(syncParameters('', { windowSeconds: 0.2, waitForDelivery: 'wait' }, { audienceSelection: 'byName', audienceName: 'Shared name' }), emails(2, `n${run}-`)));
	}
	const results = await Promise.all(runs);
	for (const result of results) expect(result.error).toBeUndefined();
	const named = local.stats().audiences.filter((audience) => audience.name.includes('Shared name') && !audience.deleted);
	expect(named).toHaveLength(1);
	expect(named[0].memberCount).toBe(16);
});

it('in queue mode every request of this process, the TikTok Audience node’s too, paces through the app’s budget in Redis', async () => {
	becomeProcess();
	expect(pacerFor('some-app')).toBeInstanceOf(RedisPacer);
	await pacerFor('some-app').acquire();
	const redis = new Redis(TEST_REDIS);
	expect((await keysUnder(redis, prefix)).some((key) => key.includes('{app:') && key.endsWith(':pace'))).toBe(true);
	await redis.quit();
	setCoordinatorForTests(undefined);
	expect(pacerFor('some-app')).not.toBeInstanceOf(RedisPacer);
});

it('in queue mode with Redis unreachable, the app’s pacer fails with the one Redis message, not ioredis’s', async () => {
	const port = await freePort();
	becomeProcessOn(`redis://127.0.0.1:${port}`);
	const error = await pacerFor('some-app')
		.acquire()
		.catch((caught: unknown) => caught);
	expect((error as Error).message).toContain(`cannot reach Redis at 127.0.0.1:${port} (from N8N_TIKTOK_SYNC_REDIS): connection refused`);
	expect((error as Error).message).not.toMatch(/max retries|ECONNREFUSED/i);
});

it('a Redis that keeps nothing on disk: one warning in n8n’s log, and the same note in the Metrics item while users are pending', async () => {
	const server = await startRedisServer(['--save', '', '--appendonly', 'no']);
	const warn = jest.spyOn(Container.get(Logger), 'warn').mockImplementation(() => undefined);
	try {
		const audienceId = await createAudience(local, 'no-persistence');
		becomeProcessOn(server.url);
		// As at a process's first run: the mode is said and Redis's persistence looked at.
		getSharedState().logged = false;
		const first = await execute(syncParameters(audienceId, { windowSeconds: 60 }), emails(2, 'np-'));
		expect(first.metrics.pending).toBe(2);
		expect(first.metrics.note).toContain('keeps nothing on disk');
		expect(first.metrics.note).toContain(`127.0.0.1:${server.port}`);
		await execute(syncParameters(audienceId, { windowSeconds: 60 }), emails(1, 'np2-'));
		const warnings = warn.mock.calls.map(([line]) => String(line)).filter((line) => line.includes('keeps nothing on disk'));
		expect(warnings).toHaveLength(1);
		// Nothing pending any more: no note.
		const flush = await execute({ operation: 'flush' }, [{}]);
		expect(flush.metrics).toMatchObject({ pending: 0, synced: 3 });
		expect(flush.metrics.note).toBeUndefined();
		const later = await execute(syncParameters(audienceId, { windowSeconds: 0, waitForDelivery: 'wait' }), emails(1, 'np3-'));
		expect(later.metrics).toMatchObject({ pending: 0, synced: 1 });
		expect(later.metrics.note).toBeUndefined();
		// Flush & Report while TikTok fails and a user stays pending: its Metrics item has the note too.
		local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
		await execute(syncParameters(audienceId, { windowSeconds: 60 }), emails(1, 'np4-'));
		const failing = await execute({ operation: 'flush' }, [{}]);
		expect(failing.metrics.pending).toBe(1);
		expect(failing.metrics.note).toContain('keeps nothing on disk');
	} finally {
		local.clearFaults();
		warn.mockRestore();
		await server.stop();
	}
});
