/*
 * RedisPacer against the real Redis at 127.0.0.1:6379 (one shared GCRA budget per TikTok app). Every key this file
 * writes is under one prefix unique to the run, and afterAll deletes exactly those keys.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import Redis from 'ioredis';

import { RedisPacer, redisPacerKeys } from '../../nodes/shared/redis/pacer';
import { deleteKeysUnder } from '../harness/redisKeys';
import { maxInSlidingWindow, minGap } from './stamps';

const HOST = '127.0.0.1';
const PORT = 6379;
const prefix = `tiktok-pacer-test:${process.pid}-${randomBytes(4).toString('hex')}`;
const ROOT = join(__dirname, '..', '..');

let redis: Redis;
let appCounter = 0;
const newApp = (): string => `app-${++appCounter}-${randomBytes(3).toString('hex')}`;

/*
 * Stamps are the admission times Redis stored (its TIME when the script let the request go), not a clock read after
 * acquire() returned: they are exact whatever the machine's load, so the spacing between them is asserted to the
 * microsecond. 50/s paces at 21,000 µs, 20/s at 52,500, 10/s at 105,000: 1050 ms per rate, the 5% margin over TikTok's
 * second (without it, 20,000 µs at 50/s fails these checks).
 */
const FULL_RATE_GAP = 21_000;

async function acquireAndStamp(pacer: RedisPacer, count: number, stamps: number[] = []): Promise<number[]> {
	for (let i = 0; i < count; i++) stamps.push(await pacer.admit());
	return stamps;
}

beforeAll(async () => {
	redis = new Redis({ host: HOST, port: PORT, lazyConnect: true, maxRetriesPerRequest: 1 });
	await redis.connect();
});

afterAll(async () => {
	await deleteKeysUnder(redis, prefix);
	await redis.quit();
});

describe('RedisPacer (one Redis)', () => {
	it('paces one process: at most 50 in any sliding second, close to 50 per 1.05 s', async () => {
		const pacer = new RedisPacer(redis, { keyPrefix: prefix, appKey: newApp() });
		const started = Date.now();
		const stamps = await acquireAndStamp(pacer, 120);
		const elapsedMs = Date.now() - started;
		const spanS = (stamps[stamps.length - 1] - stamps[0]) / 1e6;
		const perSecond = (stamps.length - 1) / spanS;
		console.log(
			`one process: 120 acquires in ${elapsedMs} ms, max ${maxInSlidingWindow(stamps)} per sliding second, ` +
				`${perSecond.toFixed(1)}/s, min gap ${(minGap(stamps) / 1000).toFixed(2)} ms`,
		);
		expect(maxInSlidingWindow(stamps)).toBeLessThanOrEqual(50);
		expect(minGap(stamps)).toBeGreaterThanOrEqual(FULL_RATE_GAP);
		// 119 intervals of 21 ms are 2.5 s: paced, not a burst (how close to the rate it gets is the bench's to measure).
		expect(elapsedMs).toBeGreaterThanOrEqual(2_400);
		expect(spanS).toBeGreaterThanOrEqual((119 * 21) / 1000 - 0.01);
	});

	it('honours a lower caller rate, and the caller also consumes the app budget', async () => {
		const appKey = newApp();
		const slow = new RedisPacer(redis, { keyPrefix: prefix, appKey, callerKey: 'workflow-1:node-a', requestsPerSecond: 10 });
		const keys = redisPacerKeys(prefix, appKey, { callerKey: 'workflow-1:node-a', requestsPerSecond: 10 });
		expect(keys.caller).toBeDefined();

		// One slow acquire advances both keys: the app's TAT by 21 ms, the caller's by 105 ms.
		// (measured from the admission time Redis returns: a clock read after acquire() would race the TATs)
		const admittedAt = await slow.admit();
		const [appTat, callerTat] = (await redis.mget(keys.app, keys.caller as string)).map(Number);
		expect(appTat - admittedAt).toBe(21_000);
		expect(callerTat - admittedAt).toBe(105_000);

		// The slow caller and a full-rate caller of the same app, side by side for ~2 s.
		const full = new RedisPacer(redis, { keyPrefix: prefix, appKey });
		const slowStamps: number[] = [];
		const fullStamps: number[] = [];
		const until = Date.now() + 2000;
		const run = async (pacer: RedisPacer, stamps: number[]): Promise<void> => {
			while (Date.now() < until) await acquireAndStamp(pacer, 1, stamps);
		};
		await Promise.all([run(slow, slowStamps), run(full, fullStamps)]);
		const merged = [...slowStamps, ...fullStamps];
		console.log(
			`caller at 10/s beside a full-rate caller: slow ${slowStamps.length}, full ${fullStamps.length} in ~2 s, ` +
				`slow max ${maxInSlidingWindow(slowStamps)} / merged max ${maxInSlidingWindow(merged)} per sliding second, ` +
				`slow min gap ${(minGap(slowStamps) / 1000).toFixed(1)} ms`,
		);
		expect(maxInSlidingWindow(slowStamps)).toBeLessThanOrEqual(10);
		expect(minGap(slowStamps)).toBeGreaterThanOrEqual(105_000);
		expect(minGap(merged)).toBeGreaterThanOrEqual(FULL_RATE_GAP);
		expect(slowStamps.length).toBeGreaterThanOrEqual(10);
		expect(maxInSlidingWindow(merged)).toBeLessThanOrEqual(50);
	});

	it('gives two callers with lower rates their own budgets inside the app budget', async () => {
		const appKey = newApp();
		const a = new RedisPacer(redis, { keyPrefix: prefix, appKey, callerKey: 'a', requestsPerSecond: 20 });
		const b = new RedisPacer(redis, { keyPrefix: prefix, appKey, callerKey: 'b', requestsPerSecond: 20 });
		const [sa, sb] = await Promise.all([acquireAndStamp(a, 25), acquireAndStamp(b, 25)]);
		const spanS = (Math.max(...sa, ...sb) - Math.min(...sa, ...sb)) / 1e6;
		console.log(`two callers at 20/s: 50 acquires in ${spanS.toFixed(2)} s`);
		expect(maxInSlidingWindow(sa)).toBeLessThanOrEqual(20);
		expect(maxInSlidingWindow(sb)).toBeLessThanOrEqual(20);
		expect(Math.min(minGap(sa), minGap(sb))).toBeGreaterThanOrEqual(52_500);
		expect(minGap([...sa, ...sb])).toBeGreaterThanOrEqual(FULL_RATE_GAP);
		// Each at 20/s in parallel: together more than one 20/s budget would ever allow in a sliding second.
		expect(maxInSlidingWindow([...sa, ...sb].sort((x, y) => x - y))).toBeGreaterThan(20);
		expect(spanS).toBeGreaterThan(1.1);
	});

	it('shares one budget between 4 processes (n8n queue-mode workers)', async () => {
		const appKey = newApp();
		const PROCESSES = 4;
		const COUNT = 40;
		const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
		const workers = Array.from({ length: PROCESSES }, () => {
			const child = spawn(tsx, [join(__dirname, 'pacerWorker.ts'), HOST, String(PORT), prefix, appKey, String(COUNT)], {
				cwd: ROOT,
				stdio: ['pipe', 'pipe', 'pipe'],
			});
			let stderr = '';
			child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
			const lines = createInterface({ input: child.stdout });
			const ready = new Promise<void>((resolve, reject) => {
				lines.once('line', (line) => (line === 'ready' ? resolve() : reject(new Error(`worker said ${line}`))));
				child.once('exit', (code) => reject(new Error(`worker exited ${code} before ready: ${stderr}`)));
			});
			const result = new Promise<number[]>((resolve, reject) => {
				lines.on('line', (line) => {
					if (line.startsWith('{')) resolve((JSON.parse(line) as { stamps: number[] }).stamps);
				});
				child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker exited ${code}: ${stderr}`))));
			});
			const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
			return { child, ready, result, exited };
		});
		try {
			await Promise.all(workers.map((w) => w.ready));
			for (const w of workers) w.child.stdin.write('go\n');
			const perWorker = await Promise.all(workers.map((w) => w.result));
			const merged = perWorker.flat();
			const first = Math.min(...merged);
			const last = Math.max(...merged);
			const spanS = (last - first) / 1e6;
			// Every worker was sending throughout: each one's stamps span most of the run (they interleave).
			const overlap = Math.min(...perWorker.map((s) => Math.max(...s))) - Math.max(...perWorker.map((s) => Math.min(...s)));
			console.log(
				`${PROCESSES} processes x ${COUNT}: ${merged.length} acquires over ${spanS.toFixed(2)} s ` +
					`(${((merged.length - 1) / spanS).toFixed(1)}/s), max ${maxInSlidingWindow(merged)} per sliding second, ` +
					`min gap ${(minGap(merged) / 1000).toFixed(2)} ms, per-process counts in the first second ` +
					`${perWorker.map((s) => s.filter((t) => t < first + 1e6).length).join('/')}`,
			);
			expect(merged).toHaveLength(PROCESSES * COUNT);
			expect(maxInSlidingWindow(merged)).toBeLessThanOrEqual(50);
			expect(minGap(merged)).toBeGreaterThanOrEqual(FULL_RATE_GAP);
			// One shared budget: 159 intervals of 21 ms are 3.34 s (4 separate budgets would take ~0.8 s).
			expect(spanS).toBeGreaterThanOrEqual(3);
			expect(overlap).toBeGreaterThan(500_000);
		} finally {
			for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
			await Promise.all(workers.map((w) => w.exited));
		}
	});

	it('does not share a budget between two apps', async () => {
		const a = new RedisPacer(redis, { keyPrefix: prefix, appKey: newApp() });
		const b = new RedisPacer(redis, { keyPrefix: prefix, appKey: newApp() });
		const started = Date.now();
		const [sa, sb] = await Promise.all([acquireAndStamp(a, 60), acquireAndStamp(b, 60)]);
		const elapsedMs = Date.now() - started;
		console.log(
			`two apps x 60: ${elapsedMs} ms, max per sliding second ${maxInSlidingWindow(sa)} / ${maxInSlidingWindow(sb)}, ` +
				`both together ${maxInSlidingWindow([...sa, ...sb])}`,
		);
		expect(maxInSlidingWindow(sa)).toBeLessThanOrEqual(50);
		expect(maxInSlidingWindow(sb)).toBeLessThanOrEqual(50);
		expect(Math.min(minGap(sa), minGap(sb))).toBeGreaterThanOrEqual(FULL_RATE_GAP);
		// Together more than one app's budget ever allows in a sliding second: two budgets.
		expect(maxInSlidingWindow([...sa, ...sb].sort((x, y) => x - y))).toBeGreaterThan(50);
	});

	it('keeps its keys under the prefix, without the app key in them, and lets them expire', async () => {
		const appKey = `token-digest-${randomBytes(8).toString('hex')}`;
		const pacer = new RedisPacer(redis, { keyPrefix: prefix, appKey, callerKey: 'secret-caller', requestsPerSecond: 5 });
		await pacer.acquire();
		const keys = redisPacerKeys(prefix, appKey, { callerKey: 'secret-caller', requestsPerSecond: 5 });
		expect(keys.app).toMatch(new RegExp(`^${prefix}:\\{app:[0-9a-f]{20}\\}:pace$`));
		expect(keys.caller).toMatch(new RegExp(`^${prefix}:\\{app:[0-9a-f]{20}\\}:pace:[0-9a-f]{16}:5$`));
		for (const key of [keys.app, keys.caller as string]) {
			expect(key).not.toContain(appKey);
			expect(key).not.toContain('secret-caller');
			const pttl = await redis.pttl(key);
			expect(pttl).toBeGreaterThan(0);
			expect(pttl).toBeLessThanOrEqual(5000 + 210 + 5);
		}
		// Both keys hash to one Cluster slot (same {app:…} tag).
		const appTag = /\{[^}]*\}/.exec(keys.app)?.[0];
		expect(keys.caller).toContain(appTag);
	});

	it('clamps the rate to (0, 50] and caps a single wait', async () => {
		expect(redisPacerKeys(prefix, 'x', { callerKey: 'c', requestsPerSecond: 500 }).caller).toBeUndefined();
		expect(redisPacerKeys(prefix, 'x', { callerKey: 'c', requestsPerSecond: 0 }).caller).toBeUndefined();
		expect(redisPacerKeys(prefix, 'x', { callerKey: 'c', requestsPerSecond: -3 }).caller).toBeUndefined();
		expect(redisPacerKeys(prefix, 'x', { callerKey: 'c', requestsPerSecond: Number.NaN }).caller).toBeUndefined();
		expect(redisPacerKeys(prefix, 'x', { requestsPerSecond: 7 }).caller).toMatch(/:7$/);

		const sleeps: number[] = [];
		// 1 per 1.05 s, at most 300 ms per sleep: the second acquire sleeps several times, each <= 300 ms.
		const pacer = new RedisPacer(redis, {
			keyPrefix: prefix,
			appKey: newApp(),
			callerKey: 'slow',
			requestsPerSecond: 1,
			maxSleepMs: 300,
			sleep: async (ms) => {
				sleeps.push(ms);
				await new Promise((resolve) => setTimeout(resolve, ms));
			},
		});
		const first = await pacer.admit();
		expect(sleeps).toHaveLength(0);
		const second = await pacer.admit();
		// one uncapped wait would be a single sleep of ~1050 ms: several sleeps, none over the cap, show the cap
		expect(sleeps.length).toBeGreaterThanOrEqual(2);
		expect(Math.max(...sleeps)).toBeLessThanOrEqual(300);
		expect(second - first).toBeGreaterThanOrEqual(1_050_000);
	});
});
