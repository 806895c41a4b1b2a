/**
 * Queue mode: N engine processes (bench/queueWorker.ts, one per n8n worker) share one scope in the real Redis
 * (127.0.0.1:6379 unless BENCH_REDIS_URL says otherwise, under a unique key prefix deleted afterwards), each a
 * RedisSyncCoordinator with a RedisPacer for the same TikTok app, all submitting users of one audience to the local
 * API as fast as they can. Measures the aggregate rate against TikTok's 500,000 users/s, the busiest sliding second
 * at the API (arrival times recorded in the API's process), its 40100 answers, Redis round trips and CPU per user
 * (clients and Redis server), and checks that every submitted user was delivered exactly once.
 *
 * Also (runRedisMemory, phase 'queue-memory'): Redis memory per pending user, in the gathering window, cut into
 * requests, and waiting for a retry, for one id and for three ids per user.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { Redis } from 'ioredis';

import { MAX_USERS_PER_REQUEST, type IdType } from '../../nodes/shared/transport/types';
import { digestHex } from '../../nodes/shared/digest';
import { RedisSyncCoordinator, type Destination, type SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import type { QueueWorkerArgs, QueueWorkerDone, QueueWorkerStats } from '../queueWorker';
import { blockedPacer, frozenClock, neverCalled, unreachable } from '../lib/engine';
import { ADVERTISER_ID, cpuShare, maxInSlidingWindow, resetServer, serverArrivals, serverCpu, serverStats, type ServerUrls } from '../lib/local';
import { sleep } from '../lib/stats';
import { deleteKeysUnder, keysUnder } from '../../test/harness/redisKeys';

const ROOT = join(__dirname, '..', '..');
const CEILING_USERS_PER_SECOND = 50 * 10_000;

export interface QueueArgs {
	/** One run per entry: that many engine processes. */
	processes: number[];
	/** Users per run, split evenly over the processes. */
	users: number;
	perSubmit: number;
	benchMode: boolean;
	/** Each process stops submitting this long after the start (what it has in is still flushed). */
	submitSeconds: number;
	/** A run that has not finished by then fails the phase. */
	timeoutSeconds: number;
	/** After the run, the processes stay up this long with nothing to do: Redis's cost of an idle scope. */
	idleSeconds?: number;
}

export interface QueueRun {
	processes: number;
	usersOffered: number;
	/** Users the engine accepted (report().entered) and what it delivered (report().synced). */
	entered: number;
	synced: number;
	pending: number;
	errored: number;
	rejected: number;
	rejections: string[];
	/** Rows the local API received in mapping requests, and its member count for the audience. */
	apiUsersReceived: number;
	apiMemberCount: number;
	/** entered = synced = users the API received, nothing pending, errored or rejected. */
	exactlyOnce: boolean;
	seconds: number;
	usersPerSecond: number;
	shareOfCeiling: number;
	mappingRequests: number;
	/** Most mapping requests arriving at the API in any sliding 1,000 ms (arrival times in the API's process). */
	maxArrivalsPerSecond: number;
	/** The API's own rate-limiter figures for the app: most accepted / attempted in any sliding 1,000 ms. */
	apiMaxAcceptedPerSecond: number;
	apiMaxAttemptedPerSecond: number;
	rateLimited: number;
	redisCommands: number;
	redisCommandsPerUser: number;
	redisByName: Record<string, number>;
	/** INFO commandstats: calls of every command between the snapshots (the whole Redis: other clients included). */
	redisServerCalls: number;
	clientCpuUsPerUser: number;
	/** Cores the engine processes used together, on average. */
	clientCpuCores: number;
	redisCpuUsPerUser: number;
	redisCpuShare: number;
	apiCpuShare: number;
	apiCpuUsPerUser: number;
	/** Per process: seconds until its submits were in, and until its flush returned. */
	submitSeconds: number[];
	flushSeconds: number[];
	/** The scope idle afterwards (every process still up, knowing it): Redis CPU and commands per second, whole server. */
	idle?: {
		seconds: number;
		redisCpuUsPerSecond: number;
		redisCallsPerSecond: number;
		clientRoundTripsPerSecond: number;
		/** The same Redis with none of the processes up (its own housekeeping and other clients): subtract this. */
		baselineCpuUsPerSecond: number;
		baselineCallsPerSecond: number;
	};
}

export interface QueueResult {
	runs: QueueRun[];
	redis: string;
}

function redisAddress(): { host: string; port: number } {
	const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
	return { host: url.hostname, port: Number(url.port || 6379) };
}

/** INFO commandstats as name → calls, and the server's CPU seconds (user + sys). */
async function redisInfo(redis: Redis): Promise<{ calls: Map<string, number>; cpuSeconds: number; usedMemory: number }> {
	const [stats, cpu, memory] = await Promise.all([redis.info('commandstats'), redis.info('cpu'), redis.info('memory')]);
	const calls = new Map<string, number>();
	for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1], Number(match[2]));
	const field = (text: string, name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? NaN);
	return {
		calls,
		cpuSeconds: field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys'),
		usedMemory: field(memory, 'used_memory'),
	};
}

function callsBetween(before: Map<string, number>, after: Map<string, number>): number {
	let total = 0;
	for (const [name, calls] of after) if (name !== 'info') total += calls - (before.get(name) ?? 0);
	return total;
}

function uniquePrefix(label: string): string {
	return `tiktok-bench-${label}-${process.pid}-${Date.now().toString(36)}`;
}

function forkWorker(args: QueueWorkerArgs): ChildProcess {
	return fork(join(ROOT, 'bench', 'queueWorker.ts'), [JSON.stringify(args)], {
		cwd: ROOT,
		// `npm run bench -- --cpu-prof`: the phase process was started with --cpu-prof; its workers write profiles too.
		execArgv: ['--import', 'tsx', '--expose-gc', '--max-old-space-size=2048', ...process.execArgv.filter((flag) => flag.startsWith('--cpu-prof'))],
		env: process.env,
		stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
	});
}

/** The next message of `type` from every worker (rejects when one exits first, or at the deadline). */
function fromAll<T>(workers: ChildProcess[], type: string, key: string | undefined, deadline: number): Promise<T[]> {
	return Promise.all(
		workers.map(
			(worker) =>
				new Promise<T>((resolve, reject) => {
					const timer = setTimeout(() => reject(new Error(`a queue worker sent no '${type}' in time`)), Math.max(0, deadline - Date.now()));
					const onMessage = (message: { type: string } & Record<string, unknown>) => {
						if (message.type !== type) return;
						cleanup();
						resolve((key ? message[key] : message) as T);
					};
					const onExit = (code: number | null) => {
						cleanup();
						reject(new Error(`a queue worker exited (${code}) before '${type}'`));
					};
					const cleanup = () => {
						clearTimeout(timer);
						worker.off('message', onMessage);
						worker.off('exit', onExit);
					};
					worker.on('message', onMessage);
					worker.once('exit', onExit);
				}),
		),
	);
}

async function runOnce(urls: ServerUrls, redis: Redis, args: QueueArgs, processes: number): Promise<QueueRun> {
	const audienceId = await resetServer(urls, args.benchMode);
	const keyPrefix = uniquePrefix(`q${processes}`);
	const scope = 'bench:queue';
	const { host, port } = redisAddress();
	const perWorker = Math.ceil(args.users / processes);
	const workers: ChildProcess[] = [];
	const deadline = Date.now() + args.timeoutSeconds * 1000;
	try {
		for (let index = 0; index < processes; index++) {
			const start = index * perWorker;
			workers.push(
				forkWorker({
					redisHost: host,
					redisPort: port,
					keyPrefix,
					scope,
					advertiserId: ADVERTISER_ID,
					audienceId,
					start,
					count: Math.max(0, Math.min(perWorker, args.users - start)),
					perSubmit: args.perSubmit,
					submitMs: args.submitSeconds * 1000,
				}),
			);
		}
		await fromAll(workers, 'ready', undefined, Math.min(deadline, Date.now() + 90_000));
		const infoBefore = await redisInfo(redis);
		const apiBefore = await serverCpu(urls);
		for (const worker of workers) worker.send({ type: 'go' });
		const done = await fromAll<QueueWorkerDone>(workers, 'done', 'done', deadline);
		for (const worker of workers) worker.send({ type: 'stats' });
		const stats = await fromAll<QueueWorkerStats>(workers, 'stats', 'stats', deadline);
		const infoAfter = await redisInfo(redis);
		const apiAfter = await serverCpu(urls);
		let idle: QueueRun['idle'];
		if (args.idleSeconds) {
			// Nothing pending, every process still knows the scope: what does it cost Redis to stay ready?
			await sleep(1_000);
			const idleBefore = await redisInfo(redis);
			for (const worker of workers) worker.send({ type: 'stats' });
			const before = await fromAll<QueueWorkerStats>(workers, 'stats', 'stats', deadline);
			const started = Date.now();
			await sleep(args.idleSeconds * 1_000);
			const idleAfter = await redisInfo(redis);
			for (const worker of workers) worker.send({ type: 'stats' });
			const after = await fromAll<QueueWorkerStats>(workers, 'stats', 'stats', deadline);
			const seconds = (Date.now() - started) / 1000;
			const trips = after.reduce((sum, s) => sum + s.redisCommands, 0) - before.reduce((sum, s) => sum + s.redisCommands, 0);
			idle = {
				seconds,
				redisCpuUsPerSecond: ((idleAfter.cpuSeconds - idleBefore.cpuSeconds) * 1e6) / seconds,
				redisCallsPerSecond: callsBetween(idleBefore.calls, idleAfter.calls) / seconds,
				clientRoundTripsPerSecond: trips / seconds,
				baselineCpuUsPerSecond: 0,
				baselineCallsPerSecond: 0,
			};
		}

		const goAt = Math.min(...done.map((d) => d.goAt));
		const endAt = Math.max(...done.map((d) => d.flushedAt));
		const seconds = (endAt - goAt) / 1000;
		const report = await new RedisSyncCoordinator({ redis, keyPrefix, requestCapacity: MAX_USERS_PER_REQUEST }).report(scope);
		const apiStats = await serverStats(urls);
		const arrivals = (await serverArrivals(urls)).sort((a, b) => a - b);
		const member = apiStats.audiences.find((audience) => audience.id === audienceId);
		const appId = Object.keys(apiStats.maxRequestsPerSecondByApp)[0];

		const redisByName: Record<string, number> = {};
		for (const s of stats) for (const [name, n] of Object.entries(s.redisByName)) redisByName[name] = (redisByName[name] ?? 0) + n;
		const redisCommands = stats.reduce((sum, s) => sum + s.redisCommands, 0);
		const clientCpuUs = stats.reduce((sum, s) => sum + s.cpuUs, 0);
		const redisCpuUs = (infoAfter.cpuSeconds - infoBefore.cpuSeconds) * 1e6;
		const apiCpuUs = apiAfter.userUs + apiAfter.systemUs - apiBefore.userUs - apiBefore.systemUs;
		const rejected = done.reduce((sum, d) => sum + d.rejected, 0);
		const synced = report.synced;
		return {
			processes,
			usersOffered: args.users,
			entered: report.entered,
			synced,
			pending: report.pending,
			errored: report.errored,
			rejected,
			rejections: [...new Set(done.flatMap((d) => d.rejections))],
			apiUsersReceived: apiStats.usersReceived,
			apiMemberCount: member?.memberCount ?? 0,
			exactlyOnce:
				report.entered === done.reduce((sum, d) => sum + d.admitted, 0) &&
				synced === report.entered &&
				apiStats.usersReceived === synced &&
				report.pending === 0 &&
				report.errored === 0,
			seconds,
			usersPerSecond: synced / seconds,
			shareOfCeiling: synced / seconds / CEILING_USERS_PER_SECOND,
			mappingRequests: apiStats.byPath['segment/mapping/'] ?? 0,
			maxArrivalsPerSecond: maxInSlidingWindow(arrivals, 1_000),
			apiMaxAcceptedPerSecond: appId ? apiStats.maxRequestsPerSecondByApp[appId] : 0,
			apiMaxAttemptedPerSecond: appId ? (apiStats.maxAttemptedPerSecondByApp[appId] ?? 0) : 0,
			rateLimited: apiStats.rejectedRateLimited,
			redisCommands,
			redisCommandsPerUser: redisCommands / Math.max(1, synced),
			redisByName,
			redisServerCalls: callsBetween(infoBefore.calls, infoAfter.calls),
			clientCpuUsPerUser: clientCpuUs / Math.max(1, synced),
			clientCpuCores: clientCpuUs / 1000 / (endAt - goAt),
			redisCpuUsPerUser: redisCpuUs / Math.max(1, synced),
			redisCpuShare: redisCpuUs / 1000 / (endAt - goAt),
			apiCpuShare: cpuShare(apiBefore, apiAfter),
			apiCpuUsPerUser: apiCpuUs / Math.max(1, synced),
			submitSeconds: done.map((d) => (d.submittedAt - goAt) / 1000),
			flushSeconds: done.map((d) => (d.flushedAt - goAt) / 1000),
			idle,
		};
	} finally {
		for (const worker of workers) {
			if (worker.exitCode === null && worker.connected) worker.send({ type: 'exit' });
		}
		await sleep(300);
		for (const worker of workers) if (worker.exitCode === null) worker.kill('SIGKILL');
		await deleteKeysUnder(redis, keyPrefix);
	}
}

/** Redis's CPU and commands per second with no engine process up, over `seconds` (what an idle scope adds to). */
async function redisBaseline(redis: Redis, seconds: number): Promise<{ cpuUsPerSecond: number; callsPerSecond: number }> {
	const before = await redisInfo(redis);
	const started = Date.now();
	await sleep(seconds * 1_000);
	const after = await redisInfo(redis);
	const elapsed = (Date.now() - started) / 1000;
	return { cpuUsPerSecond: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / elapsed, callsPerSecond: callsBetween(before.calls, after.calls) / elapsed };
}

export async function runQueue(urls: ServerUrls, args: QueueArgs): Promise<QueueResult> {
	const { host, port } = redisAddress();
	const redis = new Redis({ host, port, maxRetriesPerRequest: 1, connectTimeout: 3_000 });
	try {
		const runs: QueueRun[] = [];
		for (const processes of args.processes) {
			const run = await runOnce(urls, redis, args, processes);
			if (run.idle && args.idleSeconds) {
				const baseline = await redisBaseline(redis, args.idleSeconds);
				run.idle.baselineCpuUsPerSecond = baseline.cpuUsPerSecond;
				run.idle.baselineCallsPerSecond = baseline.callsPerSecond;
			}
			runs.push(run);
		}
		return { runs, redis: `${host}:${port}` };
	} finally {
		redis.disconnect();
	}
}

// ---- Redis memory per pending user ----

export interface RedisMemoryArgs {
	/** Users for the queued and retry states. */
	users: number;
	/** Users in the gathering window (at most one request's worth). */
	windowUsers: number;
}

export interface RedisMemoryState {
	users: number;
	keys: number;
	/** Sum of MEMORY USAGE (SAMPLES 0: every field) over the scope's keys. */
	bytes: number;
	bytesPerUser: number;
	/** INFO used_memory after minus before the fill (the whole Redis: other clients' writes included). */
	usedMemoryDeltaPerUser: number;
}

export interface RedisMemoryResult {
	oneId: { window: RedisMemoryState; queued: RedisMemoryState; retry: RedisMemoryState };
	threeIds: { window: RedisMemoryState; queued: RedisMemoryState; retry: RedisMemoryState };
}

const ONE_ID: IdType[] = ['EMAIL_SHA256'];
const THREE_IDS: IdType[] = ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256'];

function memoryUsers(start: number, count: number, idSchema: IdType[]): SyncUser[] {
	const users = new Array<SyncUser>(count);
	for (let i = 0; i < count; i++) {
		const ids = idSchema.map((type) => digestHex('sha256', `bench-${type}-${start + i}`));
		users[i] = { key: ids.length === 1 ? ids[0] : ids.join('|'), ids };
	}
	return users;
}

async function fill(
	redis: Redis,
	idSchema: IdType[],
	users: number,
	state: 'window' | 'queued' | 'retry',
): Promise<RedisMemoryState> {
	const keyPrefix = uniquePrefix(`mem-${state}-${idSchema.length}`);
	const coordinator = new RedisSyncCoordinator({ redis, keyPrefix, requestCapacity: MAX_USERS_PER_REQUEST, clock: frozenClock, watch: false });
	const scope = 'bench:memory';
	const destination: Destination = { advertiserId: ADVERTISER_ID, audienceId: '1790000000000001', action: 'add', idSchema };
	// window: nothing is cut (the window never ripens, fewer users than a request); queued: cut into requests that
	// wait for a pacer slot that never comes; retry: TikTok unreachable, each request failed once and waits.
	const send = state === 'retry' ? unreachable : neverCalled;
	const pacer = state === 'retry' ? ALREADY_PACED : blockedPacer;
	const settings = { windowMs: 3_600_000, maxPendingUsers: Math.max(users, 250_000) };
	const before = await redisInfo(redis);
	try {
		for (let start = 0; start < users; start += 10_000) {
			const result = await coordinator.submit({
				scope,
				destination,
				users: memoryUsers(start, Math.min(10_000, users - start), idSchema),
				send,
				pacer,
				settings,
				waitForDelivery: false,
			});
			if (result.rejection) throw new Error(`the memory fill was turned away: ${result.rejection.message}`);
		}
		if (state === 'retry') {
			// Every request attempted once and waiting for its retry: nothing leased any more.
			const base = coordinator.scopeBase(scope);
			const until = Date.now() + 30_000;
			for (;;) {
				const [leased, waiting] = await Promise.all([redis.zcard(`${base}lease`), redis.zcard(`${base}retry`)]);
				if (leased === 0 && waiting === Math.ceil(users / MAX_USERS_PER_REQUEST)) break;
				if (Date.now() > until) throw new Error(`the retry fill did not settle (${leased} leased, ${waiting} waiting for a retry)`);
				await sleep(50);
			}
		}
		const report = await coordinator.report(scope);
		if (report.pending !== users) throw new Error(`expected ${users} pending users, found ${report.pending}`);
		const after = await redisInfo(redis);
		const keys = await keysUnder(redis, keyPrefix);
		let bytes = 0;
		for (const key of keys) bytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) || 0;
		return {
			users,
			keys: keys.length,
			bytes,
			bytesPerUser: bytes / users,
			usedMemoryDeltaPerUser: (after.usedMemory - before.usedMemory) / users,
		};
	} finally {
		coordinator.reset();
		await deleteKeysUnder(redis, keyPrefix);
	}
}

export async function runRedisMemory(_urls: ServerUrls, args: RedisMemoryArgs): Promise<RedisMemoryResult> {
	const { host, port } = redisAddress();
	const redis = new Redis({ host, port, maxRetriesPerRequest: 1, connectTimeout: 3_000 });
	try {
		const states = async (idSchema: IdType[]) => ({
			window: await fill(redis, idSchema, args.windowUsers, 'window'),
			queued: await fill(redis, idSchema, args.users, 'queued'),
			retry: await fill(redis, idSchema, args.users, 'retry'),
		});
		return { oneId: await states(ONE_ID), threeIds: await states(THREE_IDS) };
	} finally {
		redis.disconnect();
	}
}
