/**
 * `npm run bench`: where the Batch Sync engine stands between one request per user (50 users/s) and TikTok's
 * ceiling (50 requests/s × 10,000 users = 500,000 users/s), on this machine.
 *
 * The local TikTok API runs in its own process (bench/server.ts) on 127.0.0.1, so its CPU is measured apart from
 * the client's. Each phase runs in a fresh process (bench/phase.ts). Prints a Markdown table (paste it into the
 * README) and writes bench/results.json. Not part of `npm test`. Bounded: every phase has a timeout.
 */
import { writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';

import { DEFAULT_MAX_PENDING_USERS } from '../nodes/TikTokBatchSync/engine';
import type { BaselineResult } from './phases/baseline';
import type { CpuResult } from './phases/cpu';
import type { JournalResult } from './phases/journal';
import type { LatencyResult } from './phases/latency';
import type { MemoryResult } from './phases/memory';
import type { NodeResult } from './phases/node';
import type { QueueResult, RedisMemoryResult } from './phases/queue';
import type { ThroughputResult } from './phases/throughput';
import type { ServerUrls } from './lib/local';
import { mirrorPhases, mirrorRows, type MirrorRun } from './lib/mirror';
import { runPhase, startLocalApi } from './lib/processes';
import { N8N_BENCH_CONFIG, runN8nBench, runN8nProfileDiff, type N8nRunResult } from './n8n';
import { median, sig, wallNow } from './lib/stats';

const ROOT = join(__dirname, '..');
const CEILING_USERS_PER_SECOND = 50 * 10_000;
const PER_USER_TODAY = 50;
const JOURNAL_BOUND = DEFAULT_MAX_PENDING_USERS;
const JOURNAL_BUDGET_MS = 100;

const TARGETS = {
	usersPerSecond: 250_000,
	cpuUsPerUser: 2,
	cpuUsPerPhone: 3,
	p99Ms: 5_000 + 1_000,
	heapBytesPerUser: 200,
	journalBytesPerUser: 80,
};

const QUICK = process.argv.includes('--quick');
/** `npm run bench -- --cpu-only`: only the CPU phase (emails and phones, no local API traffic); results.json not written. */
const CPU_ONLY = process.argv.includes('--cpu-only');
/** `npm run bench -- --cpu-prof`: each phase process writes a .cpuprofile (open it in Chrome DevTools). */
/**
 * `npm run bench -- --queue-only`: only the queue-mode phases (N engine processes on the real Redis, 127.0.0.1:6379 or
 * BENCH_REDIS_URL, and Redis memory per pending user); results.json not written. The full run includes them when
 * Redis answers, and skips them (saying so) when it does not.
 */
const QUEUE_ONLY = process.argv.includes('--queue-only');
/** `npm run bench -- --mirror-only`: only the Mirror List phases (1,000,000 members, disk and Redis); results.json not written. */
const MIRROR_ONLY = process.argv.includes('--mirror-only');
/**
 * `npm run bench -- --n8n`: only the real-n8n phase (bench/n8n.ts: Batch Sync ÷ No Operation, CPU per webhook
 * execution inside n8n 2.41.1); `--n8n-before=<git ref>` measures that commit too, `--n8n-prof` profiles n8n.
 */
const N8N_ONLY = process.argv.includes('--n8n');
const N8N_BEFORE = process.argv.find((arg) => arg.startsWith('--n8n-before='))?.slice('--n8n-before='.length);
const N8N_PROFILE = process.argv.includes('--n8n-prof');
/** `--n8n-prof-diff=100:return`: two profiled n8n sessions (Batch Sync only, No-Op only), their difference per execution. */
const N8N_PROFILE_DIFF = process.argv.find((arg) => arg.startsWith('--n8n-prof-diff='))?.slice('--n8n-prof-diff='.length);
const PROFILE_DIR = process.argv.includes('--cpu-prof') ? join(os.tmpdir(), `tiktok-bench-profiles-${Date.now()}`) : undefined;
const CONFIG = {
	cpu: { users: 200_000, repeats: 5, phones: 30_000 },
	throughputRepeats: QUICK ? 1 : 3,
	throughput: { users: 1_000_000, perSubmit: 10_000 },
	node: { executions: 20, usersPerExecution: 10_000, concurrency: 4 },
	latency: { usersPerSecond: 1_000, arrivalSeconds: QUICK ? 10 : 25, tickMs: 10 },
	memory: { users: 250_000, windowUsers: 9_999 },
	journal: { sizes: [0, 10_000, 100_000, 1_000_000], repeats: 3, budgetMs: JOURNAL_BUDGET_MS },
	baseline: { seconds: 10, concurrency: 4 },
	queue: { processes: [4, 8], users: 2_000_000, perSubmit: 10_000, benchMode: true, submitSeconds: QUICK ? 15 : 30, timeoutSeconds: 100, idleSeconds: QUICK ? 5 : 20 },
	queueMemory: { users: 100_000, windowUsers: 9_999 },
};

function log(line: string): void {
	process.stderr.write(`${line}\n`);
}

async function phase<T>(urls: ServerUrls, name: string, args: unknown, timeoutMs: number): Promise<T> {
	const started = wallNow();
	const profile = PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [];
	try {
		return await runPhase<T>(ROOT, urls, name, args, timeoutMs, profile);
	} finally {
		log(`  ${name} ${JSON.stringify(args)}: ${((wallNow() - started) / 1000).toFixed(1)} s`);
	}
}

const fmt = {
	int: (value: number) => Math.round(value).toLocaleString('en-US'),
	num: (value: number, digits = 2) => value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }),
	pct: (value: number) => `${Math.round(value * 100)}%`,
	ms: (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`,
	mb: (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`,
	range: (values: number[], format: (value: number) => string, noun = 'runs') =>
		values.length > 1 ? ` (${format(Math.min(...values))}–${format(Math.max(...values))} over ${values.length} ${noun})` : '',
};

interface Row {
	metric: string;
	result: string;
	target: string;
	status: 'pass' | 'MISS' | '';
}

function status(ok: boolean | undefined): Row['status'] {
	return ok === undefined ? '' : ok ? 'pass' : 'MISS';
}

function markdownTable(rows: Row[]): string {
	const lines = ['| Measure | Result | Target | |', '|---|---|---|---|'];
	for (const row of rows) lines.push(`| ${row.metric} | ${row.result} | ${row.target} | ${row.status} |`);
	return lines.join('\n');
}

function cpuRows(cpu: CpuResult): Row[] {
	const rows: Row[] = [
		{
			metric: 'CPU per user: normalise + hash + build request + serialise JSON (no network)',
			result: `**${fmt.num(cpu.totalUs)} µs** (${fmt.num(cpu.normaliseHashUs)} + ${fmt.num(cpu.buildRequestUs)} + ${fmt.num(cpu.stringifyUs)})${fmt.range(cpu.totalUsByRepeat, (v) => fmt.num(v), 'passes')}`,
			target: `≤ ${TARGETS.cpuUsPerUser} µs`,
			status: status(cpu.totalUs <= TARGETS.cpuUsPerUser),
		},
	];
	if (cpu.perValue) {
		const { values, defaultCountry, phones, email, idfa } = cpu.perValue;
		const us = (pick: (set: (typeof phones)[number]) => number) => phones.map((set) => fmt.num(pick(set))).join(' / ');
		rows.push(
			{
				metric: `CPU per phone: normalise + hash, ${fmt.int(values)} phones per set: ${phones.map((set) => PHONE_SET_LABELS[set.name]).join(' / ')} (default country ${defaultCountry})`,
				result: `**${us((set) => set.now.us)} µs**; before (libphonenumber-js per call), same passes: ${us((set) => set.before.us)} µs`,
				target: `≤ ${TARGETS.cpuUsPerPhone} µs`,
				status: status(phones.every((set) => set.now.us <= TARGETS.cpuUsPerPhone)),
			},
			{ metric: 'CPU per email / IDFA: normalise + hash', result: `${fmt.num(email.us)} / ${fmt.num(idfa.us)} µs`, target: '', status: '' },
		);
	}
	return rows;
}

const PHONE_SET_LABELS = { e164: 'E.164', national: 'national', mixed: 'mixed' } as const;

function queueRows(queue: QueueResult | undefined, memory: RedisMemoryResult | undefined): Row[] {
	const rows: Row[] = [];
	for (const run of queue?.runs ?? []) {
		rows.push(
			{
				metric: `Queue mode: ${run.processes} engine processes (RedisSyncCoordinator + RedisPacer, one app, one audience) → local API, real Redis`,
				result:
					`**${fmt.int(run.usersPerSecond)} users/s** (${fmt.int(run.synced)} users in ${fmt.num(run.seconds)} s), ` +
					`${fmt.pct(run.shareOfCeiling)} of the ceiling; ${run.exactlyOnce ? 'every user delivered exactly once' : 'NOT exactly once'}` +
					(run.rejected > 0 ? `, ${fmt.int(run.rejected)} turned away` : ''),
				target: '≤ 500,000 users/s, exactly once',
				status: status(run.exactlyOnce),
			},
			{
				metric: `… busiest sliding 1,000 ms at the API (arrivals); 40100 answers`,
				result: `${run.maxArrivalsPerSecond} requests (API's count: ${run.apiMaxAcceptedPerSecond} accepted / ${run.apiMaxAttemptedPerSecond} sent); ${run.rateLimited} rate-limited`,
				target: '≤ 50, 0',
				status: status(run.maxArrivalsPerSecond <= 50 && run.rateLimited === 0),
			},
			{
				metric: '… Redis round trips per user; commands Redis ran per user (scripts\' inner calls, whole server)',
				result: `${fmt.num(run.redisCommandsPerUser, 4)} (${fmt.int(run.redisCommands)} round trips); ${fmt.num(run.redisServerCalls / Math.max(1, run.synced), 1)}`,
				target: '',
				status: '',
			},
			{
				metric: '… Redis CPU per user (admit through settle, whole server)',
				result: `${fmt.num(run.redisCpuUsPerUser, 2)} µs`,
				target: '≤ 2 µs',
				status: status(run.redisCpuUsPerUser <= 2),
			},
			{
				metric: '… throughput with 4 processes',
				result: run.processes === 4 ? `${fmt.int(run.usersPerSecond)} users/s` : '(4-process run only)',
				target: '≥ 250,000 users/s',
				status: run.processes === 4 ? status(run.usersPerSecond >= 250_000) : '',
			},
			...(run.idle
				? [
						{
							metric: `… the scope idle afterwards (${run.processes} processes up, nothing pending, ${fmt.num(run.idle.seconds, 0)} s): Redis CPU / commands Redis ran / client round trips, per second (Redis with no process up: CPU / commands)`,
							result:
								`${fmt.num(run.idle.redisCpuUsPerSecond, 0)} µs / ${fmt.num(run.idle.redisCallsPerSecond, 2)} / ${fmt.num(run.idle.clientRoundTripsPerSecond, 2)} ` +
								`(${fmt.num(run.idle.baselineCpuUsPerSecond, 0)} µs / ${fmt.num(run.idle.baselineCallsPerSecond, 2)})`,
							target: '',
							status: '' as const,
						},
					]
				: []),
			{
				metric: '… CPU per user: engine processes (sum) / Redis server / local API',
				result:
					`${fmt.num(run.clientCpuUsPerUser, 1)} / ${fmt.num(run.redisCpuUsPerUser, 1)} / ${fmt.num(run.apiCpuUsPerUser, 1)} µs ` +
					`(${fmt.num(run.clientCpuCores)} / ${fmt.num(run.redisCpuShare)} / ${fmt.num(run.apiCpuShare)} cores)`,
				target: '',
				status: '',
			},
		);
	}
	if (memory) {
		const one = memory.oneId;
		const three = memory.threeIds;
		rows.push({
			metric: `Redis memory per pending user (MEMORY USAGE of the scope's keys): in the window (${fmt.int(one.window.users)}) / cut into requests (${fmt.int(one.queued.users)}) / waiting for retry; 1 id · 3 ids`,
			result:
				`${fmt.int(one.window.bytesPerUser)} / ${fmt.int(one.queued.bytesPerUser)} / ${fmt.int(one.retry.bytesPerUser)} B · ` +
				`${fmt.int(three.window.bytesPerUser)} / ${fmt.int(three.queued.bytesPerUser)} / ${fmt.int(three.retry.bytesPerUser)} B`,
			target: '',
			status: '',
		});
	}
	return rows;
}

/** The queue-mode phases; undefined (with a log line) when Redis does not answer and `required` is false. */
async function queuePhases(urls: ServerUrls, required: boolean): Promise<{ queue?: QueueResult; memory?: RedisMemoryResult }> {
	try {
		const memory = await phase<RedisMemoryResult>(urls, 'queue-memory', CONFIG.queueMemory, 120_000);
		const queue = await phase<QueueResult>(urls, 'queue', CONFIG.queue, 240_000);
		return { queue, memory };
	} catch (error) {
		if (required) throw error;
		log(`bench: queue-mode phases skipped (${(error as Error).message}); is Redis at ${process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'}?`);
		return {};
	}
}

async function main(): Promise<void> {
	const benchStarted = wallNow();
	const loadBefore = os.loadavg();
	const cpus = os.cpus();
	log(`bench: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}`);
	if (loadBefore[0] > 0.5) log('bench: the machine is busy (load average above 0.5): figures will be noisier than usual');
	if (N8N_ONLY) {
		await n8nOnly();
		return;
	}
	const server = await startLocalApi(ROOT);
	const { urls } = server;
	try {
		log('phases:');
		if (QUEUE_ONLY) {
			const { queue, memory } = await queuePhases(urls, true);
			process.stdout.write(`\n${markdownTable(queueRows(queue, memory))}\n`);
			process.stdout.write(`\n${JSON.stringify({ queue, memory }, roundFloats, '\t')}\n`);
			log('bench: --queue-only: results.json not written');
			return;
		}
		const phaseOn = <T>(name: string, args: unknown, timeoutMs: number) => phase<T>(urls, name, args, timeoutMs);
		if (MIRROR_ONLY) {
			const runs = await mirrorPhases(phaseOn, true, log);
			process.stdout.write(`\n${markdownTable(mirrorRows(runs))}\n\n${JSON.stringify(runs, roundFloats, '\t')}\n`);
			log('bench: --mirror-only: results.json not written');
			return;
		}
		const cpu = await phase<CpuResult>(urls, 'cpu', CONFIG.cpu, 120_000);
		if (CPU_ONLY) {
			process.stdout.write(`\n${markdownTable(cpuRows(cpu))}\n`);
			log('bench: --cpu-only: results.json not written');
			return;
		}
		// Full validation first (hex check, members kept) to see whether the API is the bottleneck.
		const full = await phase<ThroughputResult>(urls, 'throughput', { ...CONFIG.throughput, benchMode: false, hashInLoop: false }, 120_000);
		const engine: ThroughputResult[] = [];
		for (let repeat = 0; repeat < CONFIG.throughputRepeats; repeat++) {
			engine.push(await phase<ThroughputResult>(urls, 'throughput', { ...CONFIG.throughput, benchMode: true, hashInLoop: false }, 120_000));
		}
		const hashed = await phase<ThroughputResult>(urls, 'throughput', { ...CONFIG.throughput, benchMode: true, hashInLoop: true }, 120_000);
		const node = await phase<NodeResult>(urls, 'node', { ...CONFIG.node, benchMode: true }, 180_000);
		const latency = await phase<LatencyResult>(urls, 'latency', { ...CONFIG.latency, benchMode: false }, 120_000);
		const memory = await phase<MemoryResult>(urls, 'memory', CONFIG.memory, 120_000);
		const journal = await phase<JournalResult>(urls, 'journal', CONFIG.journal, 180_000);
		const baseline = await phase<BaselineResult>(urls, 'baseline', { ...CONFIG.baseline, benchMode: false }, 60_000);
		const queued = await queuePhases(urls, false);
		const mirrored: MirrorRun[] = await mirrorPhases(phaseOn, false, log);
		const loadAfter = os.loadavg();

		for (const run of [full, ...engine, hashed]) {
			if (run.synced !== run.users || run.memberCount !== run.users || run.rateLimited !== 0) {
				throw new Error(`a throughput run did not deliver every user exactly once: ${JSON.stringify(run)}`);
			}
		}

		// ---- figures ----
		const engineRates = engine.map((run) => run.usersPerSecond);
		const engineRate = median(engineRates);
		const headline = engine.find((run) => run.usersPerSecond === engineRate) ?? engine[0];
		// The API limits the run when full validation makes the same run clearly slower while its answers queue up.
		const serverBottleneck = full.usersPerSecond < 0.9 * engineRate && full.meanRequestMs > 2 * headline.meanRequestMs;
		const requestsPer1M = headline.serverMappingRequests * (1_000_000 / headline.users);
		const worstHeap = Math.max(memory.window.totalBytesPerUser, memory.queued.totalBytesPerUser, memory.retry.totalBytesPerUser);
		const worstJournal = Math.max(memory.window.journalBytesPerUser, memory.queued.journalBytesPerUser, memory.retry.journalBytesPerUser);
		const journalBoundOk = JOURNAL_BOUND <= journal.reasonableLimitUsers;

		const rows: Row[] = [
			{
				metric: `Batch Sync engine → local API, ${fmt.int(headline.users)} distinct users (median)`,
				result: `**${fmt.int(engineRate)} users/s** (${fmt.num(headline.seconds)} s)${fmt.range(engineRates, fmt.int)}`,
				target: `≥ ${fmt.int(TARGETS.usersPerSecond)} users/s`,
				status: status(engineRate >= TARGETS.usersPerSecond),
			},
			{
				metric: '… same, the API with full validation (hex check on every id, members kept)',
				result: `${fmt.int(full.usersPerSecond)} users/s (${fmt.num(full.seconds)} s)${serverBottleneck ? ', limited by the API' : ''}`,
				target: '',
				status: '',
			},
			{
				metric: '… same, normalise + hash inside the timed loop (raw emails in)',
				result: `${fmt.int(hashed.usersPerSecond)} users/s (${fmt.num(hashed.seconds)} s)`,
				target: '',
				status: '',
			},
			{
				metric: `Batch Sync node run by n8n-core: ${node.executions} executions × ${fmt.int(node.usersPerExecution)} users, ${node.concurrency} at a time, defaults`,
				result: `${fmt.int(node.usersPerSecond)} users/s (${fmt.num(node.seconds)} s, ${fmt.num(node.clientCpuUsPerUser, 1)} µs CPU/user in n8n)`,
				target: '',
				status: '',
			},
			...cpuRows(cpu),
			{
				metric: 'Client CPU per user during the 1M run (engine + transport, users pre-hashed)',
				result: `${fmt.num(headline.clientCpuUsPerUser)} µs`,
				target: '',
				status: '',
			},
			{
				metric: 'Mapping requests per 1,000,000 users',
				result: `${fmt.int(requestsPer1M)} (max ${headline.maxRequestsPerSecond} accepted in any second, ${headline.rateLimited} rate-limited)`,
				target: '100 (minimum)',
				status: status(requestsPer1M <= 100),
			},
			{
				metric: `Enter → accepted latency at ${fmt.int(latency.usersPerSecond)} users/s for ${latency.arrivalSeconds} s, 5 s window`,
				result: `p50 ${fmt.ms(latency.p50Ms)}, **p99 ${fmt.ms(latency.p99Ms)}**, max ${fmt.ms(latency.maxMs)} (${latency.requests} requests)`,
				target: `p99 ≤ ${fmt.ms(TARGETS.p99Ms)}`,
				status: status(latency.p99Ms <= TARGETS.p99Ms),
			},
			{
				metric: `Memory per user held by the engine (heap + buffers): in the window (${fmt.int(memory.window.users)}) / queued (${fmt.int(memory.queued.users)}) / waiting for retry`,
				result: `${fmt.int(memory.window.totalBytesPerUser)} / ${fmt.int(memory.queued.totalBytesPerUser)} / ${fmt.int(memory.retry.totalBytesPerUser)} B`,
				target: `≤ ${TARGETS.heapBytesPerUser} B`,
				status: status(worstHeap <= TARGETS.heapBytesPerUser),
			},
			{
				metric: 'Journal per pending user (as one JSON document, the shape static data held before)',
				result: `${fmt.num(worstJournal, 1)} B`,
				target: `≤ ${TARGETS.journalBytesPerUser} B`,
				status: status(worstJournal <= TARGETS.journalBytesPerUser),
			},
			...journalEndRows(journal),
			...journal.points.map((point) => ({
				metric: `… at ${fmt.int(point.pendingUsers)} pending users, now: journal file size; its rewrite (once per process, and when appends outgrow it)`,
				result: `${fmt.mb(point.fileBytes)}; ${fmt.ms(point.snapshotMs)}`,
				target: '',
				status: '' as const,
			})),
			...journal.points.map((point) => ({
				metric: `… at ${fmt.int(point.pendingUsers)} pending users, before (static data): size; export (first / later) / JSON.stringify / JSON.parse`,
				result: `${fmt.mb(point.bytes)}; ${fmt.ms(point.exportFirstMs)} / ${fmt.ms(point.exportMs)} / ${fmt.ms(point.stringifyMs)} / ${fmt.ms(point.parseMs)}`,
				target: '',
				status: '' as const,
			})),
			{
				metric: `Before (static data): backlog where the journal cost ${JOURNAL_BUDGET_MS} ms per execution end (export + stringify + parse)`,
				result: `~${fmt.int(journal.reasonableLimitUsers)} pending users (${fmt.mb(journal.reasonableLimitBytes)}); default bound ${fmt.int(JOURNAL_BOUND)} is ${journalBoundOk ? 'below' : 'ABOVE'} it`,
				target: '',
				status: '',
			},
			{
				metric: `Baseline: one request per user at 50 requests/s, same transport, ${CONFIG.baseline.seconds} s`,
				result: `${fmt.num(baseline.usersPerSecond, 1)} users/s (${fmt.int(baseline.users)} users, ${baseline.rateLimited} rate-limited)`,
				target: `≈ ${PER_USER_TODAY} users/s`,
				status: '',
			},
			{
				metric: 'Engine ÷ baseline; engine ÷ ceiling (500,000 users/s)',
				result: `**×${fmt.int(engineRate / baseline.usersPerSecond)}**; ${fmt.pct(engineRate / CEILING_USERS_PER_SECOND)} of the ceiling`,
				target: '',
				status: '',
			},
			{
				metric: 'Local API (own process) during the 1M run, bench mode / full validation: CPU; mean answer time',
				result:
					`${fmt.pct(headline.serverCpuShare)} / ${fmt.pct(full.serverCpuShare)} of a core; ${fmt.ms(headline.meanRequestMs)} / ` +
					`${fmt.ms(full.meanRequestMs)} (client process: ${fmt.pct(headline.clientCpuShare)} of a core)`,
				target: '',
				status: '',
			},
			...queueRows(queued.queue, queued.memory),
			...mirrorRows(mirrored),
		];

		const table = markdownTable(rows);
		const notes = [
			`Machine: ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}, Node ${process.version}; load average ${loadBefore[0].toFixed(2)} at start, ${loadAfter[0].toFixed(2)} at end.`,
			`Local API: its own process on 127.0.0.1, CPU read from that process. ` +
				(serverBottleneck
					? `With full validation (hex check on every id, members kept) it is the bottleneck: ${fmt.int(full.usersPerSecond)} users/s, ` +
						`answers queueing (${fmt.ms(full.meanRequestMs)} mean vs ${fmt.ms(headline.meanRequestMs)}), ${fmt.pct(full.serverCpuShare)} of a core. ` +
						'So the engine rows use its bench mode (counts only, no hex check), to measure the client.'
					: `Full validation did not limit the run (${fmt.int(full.usersPerSecond)} users/s, ${fmt.pct(full.serverCpuShare)} of a core); ` +
						'the engine rows use its bench mode (counts only, no hex check) all the same.'),
			`Pacing: the engine's shared pacer (50 requests per 1,050 ms, so at most ~47.6 requests/s) bounds the engine at ~476,000 users/s.`,
			`Latency: from submit to the moment the local API handed its code-0 answer to the socket (recorded in the API's process); users arrive every ${CONFIG.latency.tickMs} ms, as executions that do not wait for delivery.`,
			`CPU per user: median of ${CONFIG.cpu.repeats} passes over ${fmt.int(CONFIG.cpu.users)} messy emails (case, dots, +tags, spaces), 10,000 per request; process CPU, GC included. CPU per value (phone, email, IDFA): median of ${CONFIG.cpu.repeats} passes of normalise + hash (hashUser + dedupeKey) over ${fmt.int(CONFIG.cpu.phones)} values; phone sets: E.164 from 16 countries, UK national numbers with default country 44 (spaces, dashes, dots, brackets), and the mixed set (national UK, "+"/"00" international with brackets and "(0)", JS numbers). "Before" runs the phone normaliser of 5528b9a (libphonenumber-js parse + isValid() per phone) in the same process, passes alternating with today's.`,
			`Journal "reasonable": at most ${JOURNAL_BUDGET_MS} ms per execution end for writeJournals + JSON.stringify + JSON.parse of the static data (n8n rewrites the whole row each time); the figure is extrapolated linearly from the 1,000,000 point.`,
			`Node path: ${fmt.int(node.users)} users over ${node.executions} executions (fewer than 1M: n8n-core's per-item work dominates); static data saved as JSON after each.`,
			queued.queue
				? `Queue mode: ${CONFIG.queue.processes.join(' and ')} engine processes on the same machine share Redis at ${queued.queue.redis} (own key prefix, deleted after); each submits its share of ${fmt.int(CONFIG.queue.users)} distinct users in executions of ${fmt.int(CONFIG.queue.perSubmit)} for at most ${CONFIG.queue.submitSeconds} s, then flushes. Round trips counted in each client; Redis CPU and commands from INFO (the whole server). The engines, Redis and the API share this machine's ${cpus.length} cores.`
				: 'Queue mode: skipped (no Redis).',
		];
		process.stdout.write(`\n${table}\n\n${notes.map((line) => `- ${line}`).join('\n')}\n`);

		const results = {
			generatedAt: new Date().toISOString(),
			command: 'npm run bench',
			machine: {
				cpus: cpus.length,
				model: cpus[0]?.model,
				node: process.version,
				loadAverageAtStart: loadBefore.map((value) => sig(value)),
				loadAverageAtEnd: loadAfter.map((value) => sig(value)),
			},
			targets: TARGETS,
			summary: {
				engineUsersPerSecond: Math.round(engineRate),
				engineUsersPerSecondRuns: engineRates.map(Math.round),
				engineFullValidationUsersPerSecond: Math.round(full.usersPerSecond),
				engineWithHashingUsersPerSecond: Math.round(hashed.usersPerSecond),
				nodeUsersPerSecond: Math.round(node.usersPerSecond),
				cpuUsPerUser: sig(cpu.totalUs),
				cpuUsPerPhone: cpu.perValue
					? Object.fromEntries(cpu.perValue.phones.map((set) => [set.name, { now: sig(set.now.us), before: sig(set.before.us) }]))
					: undefined,
				cpuUsPerEmailIdfa: cpu.perValue ? { email: sig(cpu.perValue.email.us), idfa: sig(cpu.perValue.idfa.us) } : undefined,
				requestsPerMillionUsers: requestsPer1M,
				latencyP50Ms: Math.round(latency.p50Ms),
				latencyP99Ms: Math.round(latency.p99Ms),
				heapBytesPerBufferedUser: { window: sig(memory.window.totalBytesPerUser), queued: sig(memory.queued.totalBytesPerUser), retry: sig(memory.retry.totalBytesPerUser) },
				journalBytesPerPendingUser: sig(worstJournal),
				journalReasonableLimitUsers: journal.reasonableLimitUsers,
				journalBoundBelowLimit: journalBoundOk,
				baselineUsersPerSecond: sig(baseline.usersPerSecond),
				ratioToBaseline: Math.round(engineRate / baseline.usersPerSecond),
				shareOfCeiling: sig(engineRate / CEILING_USERS_PER_SECOND),
				localApiCpuShare: { benchMode: sig(headline.serverCpuShare), fullValidation: sig(full.serverCpuShare) },
				localApiBottleneck: serverBottleneck,
				queueMode: queued.queue?.runs.map((run) => ({
					processes: run.processes,
					usersPerSecond: Math.round(run.usersPerSecond),
					exactlyOnce: run.exactlyOnce,
					maxRequestsInAnySecond: run.maxArrivalsPerSecond,
					rateLimited: run.rateLimited,
					redisRoundTripsPerUser: sig(run.redisCommandsPerUser),
					clientCpuUsPerUser: sig(run.clientCpuUsPerUser),
					redisCpuUsPerUser: sig(run.redisCpuUsPerUser),
				})),
				redisBytesPerPendingUser: queued.memory
					? {
							oneId: { window: sig(queued.memory.oneId.window.bytesPerUser), queued: sig(queued.memory.oneId.queued.bytesPerUser), retry: sig(queued.memory.oneId.retry.bytesPerUser) },
							threeIds: { window: sig(queued.memory.threeIds.window.bytesPerUser), queued: sig(queued.memory.threeIds.queued.bytesPerUser), retry: sig(queued.memory.threeIds.retry.bytesPerUser) },
						}
					: undefined,
			},
			table: rows,
			notes,
			beforeAfter: 'bench/NOTES.md',
			phases: {
				cpu,
				throughputFullValidation: full,
				throughput: engine,
				throughputWithHashing: hashed,
				node,
				latency,
				memory,
				journal,
				baseline,
				queue: queued.queue,
				queueMemory: queued.memory,
				mirror: mirrored,
			},
			config: CONFIG,
			benchSeconds: sig((wallNow() - benchStarted) / 1000),
		};
		if (!QUICK && !PROFILE_DIR) writeFileSync(join(ROOT, 'bench', 'results.json'), `${JSON.stringify(results, roundFloats, '\t')}\n`);
		log(`bench: done in ${((wallNow() - benchStarted) / 1000).toFixed(0)} s${QUICK ? ' (--quick: results.json not written)' : '; wrote bench/results.json'}`);
		if (PROFILE_DIR) log(`bench: CPU profiles in ${PROFILE_DIR}`);
	} finally {
		server.child.disconnect();
	}
}

/** The real-n8n phase alone: this checkout (and `--n8n-before`'s commit), the table, and bench/results-n8n.json. */
async function n8nOnly(): Promise<void> {
	log('phases:');
	if (N8N_PROFILE_DIFF) {
		const [users, mode] = N8N_PROFILE_DIFF.split(':');
		const diff = await runN8nProfileDiff({ users: Number(users) || 100, mode: mode === 'wait' ? 'wait' : 'return', calls: 600, log });
		process.stdout.write(
			`\nn8n CPU per execution (/proc, profiled): Batch Sync ${fmt.int(diff.batchUsPerExecution)} µs, No-Op ${fmt.int(diff.noopUsPerExecution)} µs\n` +
				`Self time per execution, Batch Sync − No-Op, by area (µs; Batch Sync / No-Op):\n`,
		);
		for (const area of diff.byArea) process.stdout.write(`  ${fmt.num(area.diffUs, 0).padStart(7)}  ${area.area} (${fmt.num(area.batchUs, 0)} / ${fmt.num(area.noopUs, 0)})\n`);
		process.stdout.write('By function (µs per execution, Batch Sync − No-Op):\n');
		for (const fn of diff.topFunctions) process.stdout.write(`  ${fmt.num(fn.diffUs, 1).padStart(7)}  ${fn.name}  [${fn.area}]\n`);
		writeFileSync(join(os.tmpdir(), `tiktok-n8n-profile-diff-${users}-${mode}.json`), `${JSON.stringify(diff, roundFloats, '\t')}\n`);
		return;
	}
	const journal = await journalEndPhase();
	const now = await runN8nBench({ label: 'now', profile: N8N_PROFILE, log });
	const before = N8N_BEFORE ? await runN8nBench({ label: `before (${N8N_BEFORE})`, beforeRef: N8N_BEFORE, profile: N8N_PROFILE, log }) : undefined;
	const rows = [...n8nRows(now, before), ...journalEndRows(journal)];
	process.stdout.write(`\n${markdownTable(rows)}\n`);
	for (const run of [now, before]) {
		if (!run?.profile) continue;
		process.stdout.write(`\nn8n CPU profile (${run.label}), self time, ${fmt.int(run.profile.totalMs)} ms in all:\n`);
		for (const area of run.profile.byArea) process.stdout.write(`  ${fmt.pct(area.share).padStart(4)}  ${area.area}\n`);
		for (const fn of run.profile.topFunctions) process.stdout.write(`  ${(fn.share * 100).toFixed(1).padStart(5)}%  ${fn.name}  [${fn.area}]\n`);
	}
	const results = { generatedAt: new Date().toISOString(), command: process.argv.slice(2).join(' '), config: N8N_BENCH_CONFIG, now, before, journal, table: rows };
	if (!N8N_PROFILE) writeFileSync(join(ROOT, 'bench', 'results-n8n.json'), `${JSON.stringify(results, roundFloats, '\t')}\n`);
}

/** The journal's cost per execution end at 0 / 10,000 / 100,000 pending users (the journal phase, small sizes). */
async function journalEndPhase(): Promise<JournalResult> {
	return await phase<JournalResult>({} as ServerUrls, 'journal', { ...CONFIG.journal, sizes: [0, 10_000, 100_000] }, 180_000);
}

function journalEndRows(journal: JournalResult): Row[] {
	return journal.points.map((point) => ({
		metric: `Journal cost per execution end at ${fmt.int(point.pendingUsers)} pending users (regular mode): now, file append after 1 new user / after nothing new; before, static data (export + JSON.stringify + JSON.parse)`,
		result:
			`**${fmt.num(point.appendOneUserUs, 0)} µs / ${fmt.num(point.appendNothingUs, 0)} µs** (${fmt.int(point.appendBytes)} B appended); ` +
			`before: ${fmt.num(point.perExecutionMs, 2)} ms (${fmt.mb(point.bytes)} rewritten)`,
		target: 'independent of pending',
		status: '' as const,
	}));
}

const MODE_LABEL = { wait: 'Wait', return: 'Return at Once' } as const;

function n8nRows(now: N8nRunResult, before: N8nRunResult | undefined): Row[] {
	const config = N8N_BENCH_CONFIG;
	return now.cases.map((result) => {
		const was = before?.cases.find((c) => c.usersPerCall === result.usersPerCall && c.mode === result.mode);
		return {
			metric:
				`n8n ${now.n8nVersion}, CPU per webhook execution, Batch Sync ÷ No Operation: ${result.usersPerCall} user${result.usersPerCall === 1 ? '' : 's'} per call, ` +
				`${MODE_LABEL[result.mode]} (${config.concurrency} calls in flight, median of ${config.rounds} paired rounds)`,
			result:
				`**×${fmt.num(result.ratio)}** (middle half of the rounds ×${fmt.num(result.quartiles[0])}–${fmt.num(result.quartiles[1])}; all rounds ×${fmt.num(result.totalRatio)}; ` +
				`${fmt.int(result.batchUsPerExecution)} / ${fmt.int(result.noopUsPerExecution)} µs)` +
				(was ? `; before: ×${fmt.num(was.ratio)} (×${fmt.num(was.quartiles[0])}–${fmt.num(was.quartiles[1])}; all rounds ×${fmt.num(was.totalRatio)})` : ''),
			target: '≤ ×1.10',
			status: status(result.ratio <= 1.1),
		};
	});
}

/** results.json carries 4 significant digits, not float noise. */
function roundFloats(_key: string, value: unknown): unknown {
	return typeof value === 'number' && !Number.isInteger(value) ? sig(value, 4) : value;
}

main().catch((error: unknown) => {
	log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
	process.exit(1);
});
