/**
 * `npm run bench -- --n8n`: what a Batch Sync node costs inside a real n8n 2.41.1, against the same workflow with a
 * No Operation node in its place. The e2e helpers (test/e2e/lib) pack this package, install it into a fresh n8n user
 * folder and start n8n with the local TikTok API in its own process. Both workflows are
 * Webhook → Split Out (body.users) → Batch Sync | No Operation, called at a fixed concurrency with 1 or 100 distinct
 * users per call. n8n's CPU (user + system) comes from /proc/<pid>/stat of its main process. For each case the bench
 * runs paired rounds: a block of Batch Sync calls and a block of No-Op calls, in alternating order, and takes the
 * ratio of CPU per execution in each round; the median over rounds is the figure.
 *
 * `--n8n-before=<git ref>` measures that commit's package the same way in a second n8n, after this one.
 * `--n8n-prof` runs n8n with --cpu-prof and prints where its CPU went (self time by area and function).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { N8nClient } from '../test/e2e/lib/client';
import { startN8n, type N8nInstance } from '../test/e2e/lib/n8n';
import { packAndInstall, packPackage, type PackedPackage } from '../test/e2e/lib/package';
import { getRuntime, REPO_DIR } from '../test/e2e/lib/runtime';
import { DEMO, startTikTokProcess, tikTokApiCredentialData, type TikTokProcess } from '../test/e2e/lib/tiktok';
import { node, webhookTrigger, workflow } from '../test/e2e/lib/workflow';
import { monotonicUs, summarizeProfile, type ProfileSummary } from './lib/cpuprofile';
import { median, percentile, sleep } from './lib/stats';

export type ResponseMode = 'wait' | 'return';

export interface N8nBenchConfig {
	/** Webhook calls in flight at any time (the same for both workflows). */
	concurrency: number;
	/** Paired rounds per case. */
	rounds: number;
	/** Calls per block, by users per call. */
	callsPerBlock: Record<number, number>;
	usersPerCall: number[];
	modes: ResponseMode[];
	/** The gathering window of the "Wait" workflow: with the default 5 s each call would wait 5 s. */
	waitWindowSeconds: number;
	warmupCalls: number;
}

export const N8N_BENCH_CONFIG: N8nBenchConfig = {
	concurrency: 16,
	rounds: 8,
	callsPerBlock: { 1: 300, 100: 120 },
	usersPerCall: [1, 100],
	modes: ['wait', 'return'],
	waitWindowSeconds: 0.1,
	warmupCalls: 300,
};

export interface N8nRound {
	batchUsPerExecution: number;
	noopUsPerExecution: number;
	ratio: number;
}

export interface N8nCaseResult {
	usersPerCall: number;
	mode: ResponseMode;
	rounds: N8nRound[];
	/** Median over rounds. */
	ratio: number;
	/** All rounds' Batch Sync CPU ÷ all rounds' No-Op CPU (blocks of equal size). */
	totalRatio: number;
	/** The middle half of the rounds' ratios. */
	quartiles: [number, number];
	batchUsPerExecution: number;
	noopUsPerExecution: number;
	/** (Batch Sync − No-Op) per user of a call. */
	extraUsPerUser: number;
	batchExecutionsPerSecond: number;
}

export interface N8nRunResult {
	label: string;
	n8nVersion: string;
	cases: N8nCaseResult[];
	profile?: ProfileSummary;
	seconds: number;
}

const CLOCK_TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU microseconds (user + system) of process `pid` so far, from /proc (clock-tick resolution). */
function processCpuUs(pid: number): number {
	const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
	// Fields after the command name (which may contain spaces) start at ") ".
	const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
	const utime = Number(fields[11]);
	const stime = Number(fields[12]);
	return ((utime + stime) * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** A checkout of `ref` in a temp folder, built with this repo's node_modules, packed. */
function packRef(ref: string, log: (line: string) => void): PackedPackage {
	const dir = mkdtempSync(join(tmpdir(), 'n8n-tiktok-before-'));
	execFileSync('bash', ['-c', `git -C "${REPO_DIR}" archive "${ref}" | tar -x -C "${dir}"`]);
	symlinkSync(join(REPO_DIR, 'node_modules'), join(dir, 'node_modules'), 'dir');
	log(`  building ${ref} in ${dir}`);
	execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
	execFileSync('npx', ['gulp', 'build:icons'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
	return packPackage(dir);
}

let emailCounter = 0;
function usersBody(count: number): { users: Array<{ email: string }> } {
	const users: Array<{ email: string }> = [];
	for (let i = 0; i < count; i++) users.push({ email: `bench-${emailCounter++}@n8n-bench.example` });
	return { users };
}

async function callOnce(baseUrl: string, path: string, users: number): Promise<void> {
	const response = await fetch(`${baseUrl}/webhook/${path}`, {
		method: 'POST',
		headers: { 'content-type': 'application/json' },
		body: JSON.stringify(usersBody(users)),
		signal: AbortSignal.timeout(120_000),
	});
	const text = await response.text();
	if (response.status !== 200) throw new Error(`webhook ${path} answered ${response.status}: ${text.slice(0, 300)}`);
}

/** `calls` webhook calls, `concurrency` at a time; n8n's CPU and the wall time they took. */
async function block(n8n: N8nInstance, path: string, calls: number, users: number, concurrency: number): Promise<{ cpuUs: number; seconds: number }> {
	const pid = n8n.pid;
	if (pid === undefined) throw new Error('n8n is not running');
	let issued = 0;
	const cpuBefore = processCpuUs(pid);
	const started = performance.now();
	const worker = async () => {
		while (issued < calls) {
			issued++;
			await callOnce(n8n.baseUrl, path, users);
		}
	};
	await Promise.all(Array.from({ length: Math.min(concurrency, calls) }, worker));
	const seconds = (performance.now() - started) / 1000;
	return { cpuUs: processCpuUs(pid) - cpuBefore, seconds };
}

function quartilesOf(values: number[]): [number, number] {
	const sorted = [...values].sort((a, b) => a - b);
	return [percentile(sorted, 25), percentile(sorted, 75)];
}

function splitOut(): ReturnType<typeof node> {
	return node('Split Out', 'n8n-nodes-base.splitOut', { fieldToSplitOut: 'body.users', options: {} });
}

function batchSyncWorkflow(path: string, mode: ResponseMode, windowSeconds: number | undefined, credential: { id: string; name: string }) {
	return workflow(`bench: Batch Sync (${mode})`, [
		webhookTrigger(path, { responseMode: 'lastNode' }),
		splitOut(),
		node(
			'Batch Sync',
			'n8n-nodes-tiktok-audience-sync.tikTokBatchSync',
			{
				authentication: 'accessToken',
				operation: 'sync',
				action: 'add',
				advertiserId: { __rl: true, mode: 'id', value: DEMO.advertisers[0].id },
				audienceSelection: 'byName',
				audienceName: 'n8n bench',
				matchFields: ['email'],
				emailValue: '={{ $json.email }}',
				options: { waitForDelivery: mode, ...(windowSeconds !== undefined ? { windowSeconds } : {}) },
			},
			{ credentials: { tikTokBusinessApi: credential } },
		),
	]);
}

function noopWorkflow(path: string) {
	return workflow('bench: No Operation', [webhookTrigger(path, { responseMode: 'lastNode' }), splitOut(), node('No Operation', 'n8n-nodes-base.noOp')]);
}

const PATHS: Record<ResponseMode | 'noop', string> = { wait: 'bench-wait', return: 'bench-return', noop: 'bench-noop' };

/** Owner, API key, the credential for the local TikTok API, and the three workflows, active. */
async function setUpWorkflows(n8n: N8nInstance, tiktok: TikTokProcess, config: N8nBenchConfig): Promise<N8nClient> {
	const client = new N8nClient(n8n.baseUrl);
	await client.setupOwner();
	await client.createApiKey('bench');
	const credential = await client.createCredential({ name: 'bench: TikTok (local)', type: 'tikTokBusinessApi', data: tikTokApiCredentialData(tiktok.url) });
	const workflows = [
		batchSyncWorkflow(PATHS.wait, 'wait', config.waitWindowSeconds, credential),
		batchSyncWorkflow(PATHS.return, 'return', undefined, credential),
		noopWorkflow(PATHS.noop),
	];
	for (const input of workflows) {
		const created = await client.createWorkflow(input);
		await client.activateWorkflow(created.id);
	}
	for (const path of Object.values(PATHS)) await client.waitForWebhookRegistered(path);
	return client;
}

/** One n8n with `packed` installed: every case, paired rounds. */
export async function runN8nBench(opts: {
	label: string;
	packed?: PackedPackage;
	beforeRef?: string;
	config?: N8nBenchConfig;
	profile?: boolean;
	log: (line: string) => void;
}): Promise<N8nRunResult> {
	const config = opts.config ?? N8N_BENCH_CONFIG;
	const started = performance.now();
	const runtime = getRuntime(2, { provision: 'never' });
	const workDir = mkdtempSync(join(tmpdir(), 'n8n-tiktok-bench-'));
	const userFolder = join(workDir, 'home');
	const packed = opts.packed ?? (opts.beforeRef ? packRef(opts.beforeRef, opts.log) : undefined);
	packAndInstall(userFolder, { packed });
	const profileDir = opts.profile ? join(workDir, 'profiles') : undefined;
	if (profileDir) mkdirSync(profileDir, { recursive: true });
	let tiktok: TikTokProcess | undefined;
	let n8n: N8nInstance | undefined;
	try {
		tiktok = await startTikTokProcess({ env: { TIKTOK_LOCAL_BENCH: '1' } });
		n8n = await startN8n({
			majorVersion: 2,
			userFolder,
			env: {
				N8N_LOG_LEVEL: 'warn',
				...(profileDir ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } : {}),
			},
		});
		opts.log(`  ${opts.label}: n8n ${runtime.n8nVersion} ready in ${(n8n.lastStartupMs / 1000).toFixed(1)} s (pid ${n8n.pid})`);
		await setUpWorkflows(n8n, tiktok, config);
		// Warm-up: JIT, the audience lookup, database pages.
		for (const path of Object.values(PATHS)) await block(n8n, path, config.warmupCalls, 10, config.concurrency);

		const cases: N8nCaseResult[] = [];
		for (const users of config.usersPerCall) {
			for (const mode of config.modes) {
				const calls = config.callsPerBlock[users] ?? 100;
				const rounds: N8nRound[] = [];
				let batchSeconds = 0;
				for (let round = 0; round < config.rounds; round++) {
					const order: Array<'batch' | 'noop'> = round % 2 === 0 ? ['batch', 'noop'] : ['noop', 'batch'];
					const cost: Record<'batch' | 'noop', number> = { batch: 0, noop: 0 };
					for (const which of order) {
						const measured = await block(n8n, which === 'batch' ? PATHS[mode] : PATHS.noop, calls, users, config.concurrency);
						cost[which] = measured.cpuUs / calls;
						if (which === 'batch') batchSeconds += measured.seconds;
					}
					rounds.push({ batchUsPerExecution: cost.batch, noopUsPerExecution: cost.noop, ratio: cost.batch / cost.noop });
				}
				const batchUs = median(rounds.map((r) => r.batchUsPerExecution));
				const noopUs = median(rounds.map((r) => r.noopUsPerExecution));
				const result: N8nCaseResult = {
					usersPerCall: users,
					mode,
					rounds,
					ratio: median(rounds.map((r) => r.ratio)),
					totalRatio: rounds.reduce((sum, r) => sum + r.batchUsPerExecution, 0) / rounds.reduce((sum, r) => sum + r.noopUsPerExecution, 0),
					quartiles: quartilesOf(rounds.map((r) => r.ratio)),
					batchUsPerExecution: batchUs,
					noopUsPerExecution: noopUs,
					extraUsPerUser: (batchUs - noopUs) / users,
					batchExecutionsPerSecond: (calls * config.rounds) / batchSeconds,
				};
				cases.push(result);
				opts.log(
					`  ${opts.label}: ${users} user(s)/call, ${mode}: ×${result.ratio.toFixed(3)} ` +
						`(${Math.round(batchUs)} / ${Math.round(noopUs)} µs per execution; rounds ${rounds.map((r) => r.ratio.toFixed(2)).join(' ')})`,
				);
			}
		}
		// Let Return at Once's pending users go out before n8n stops.
		await sleep(6_000);
		await n8n.stop();
		let profile: ProfileSummary | undefined;
		if (profileDir) {
			const files = existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
			// The main process's profile is the largest (the task runner's is nearly empty).
			const sized = files.map((f) => ({ f, size: readFileSync(join(profileDir, f)).length })).sort((a, b) => b.size - a.size);
			if (sized[0]) {
				profile = summarizeProfile(join(profileDir, sized[0].f));
				opts.log(`  ${opts.label}: CPU profile ${join(profileDir, sized[0].f)}`);
			}
		}
		return { label: opts.label, n8nVersion: runtime.n8nVersion, cases, profile, seconds: (performance.now() - started) / 1000 };
	} finally {
		await n8n?.stop().catch(() => undefined);
		await tiktok?.close();
		if (!profileDir) rmSync(workDir, { recursive: true, force: true });
	}
}

export interface ProfileDiff {
	usersPerCall: number;
	mode: ResponseMode;
	calls: number;
	/** n8n's CPU per execution from /proc in each profiled session. */
	batchUsPerExecution: number;
	noopUsPerExecution: number;
	/** Self time per execution, Batch Sync session minus No-Op session, by area and by function (µs). */
	byArea: Array<{ area: string; batchUs: number; noopUs: number; diffUs: number }>;
	topFunctions: Array<{ name: string; area: string; diffUs: number }>;
}

/**
 * Where n8n's extra CPU goes: two profiled sessions of the same n8n (--cpu-prof), one calling only the Batch Sync
 * workflow and one calling only the No-Op workflow, the same number of times; the difference of self time per
 * execution, by area (this package, n8n-core, n8n's database layer, …) and by function.
 */
export async function runN8nProfileDiff(opts: { users: number; mode: ResponseMode; calls: number; log: (line: string) => void }): Promise<ProfileDiff> {
	const config = N8N_BENCH_CONFIG;
	const workDir = mkdtempSync(join(tmpdir(), 'n8n-tiktok-bench-prof-'));
	const userFolder = join(workDir, 'home');
	packAndInstall(userFolder);
	const profileDir = join(workDir, 'profiles');
	mkdirSync(profileDir, { recursive: true });
	let tiktok: TikTokProcess | undefined;
	let n8n: N8nInstance | undefined;
	try {
		tiktok = await startTikTokProcess({ env: { TIKTOK_LOCAL_BENCH: '1' } });
		n8n = await startN8n({ majorVersion: 2, userFolder, env: { N8N_LOG_LEVEL: 'warn', NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profileDir}` } });
		await setUpWorkflows(n8n, tiktok, config);
		const sessions: Record<'batch' | 'noop', { summary: ProfileSummary; cpuUs: number }> = {} as never;
		for (const which of ['batch', 'noop'] as const) {
			await n8n.restart();
			const path = which === 'batch' ? PATHS[opts.mode] : PATHS.noop;
			await new N8nClient(n8n.baseUrl).waitForWebhookRegistered(path);
			const pid = n8n.pid!;
			await block(n8n, path, config.warmupCalls, opts.users, config.concurrency);
			const fromUs = monotonicUs();
			const measured = await block(n8n, path, opts.calls, opts.users, config.concurrency);
			const toUs = monotonicUs();
			await n8n.stop();
			const file = readdirSync(profileDir).find((name) => name.includes(`.${pid}.`) && name.endsWith('.cpuprofile'));
			if (!file) throw new Error(`no CPU profile of n8n (pid ${pid}) in ${profileDir}`);
			// Only the samples of the measured block: startup and warm-up left out.
			sessions[which] = { summary: summarizeProfile(join(profileDir, file), 400, { fromUs, toUs }), cpuUs: measured.cpuUs / opts.calls };
			opts.log(`  profile (${which}, ${opts.users} user(s)/call, ${opts.mode}): ${join(profileDir, file)}`);
		}
		const executions = opts.calls;
		const perExecution = (ms: number) => (ms * 1000) / executions;
		const areas = new Set([...sessions.batch.summary.byArea.map((a) => a.area), ...sessions.noop.summary.byArea.map((a) => a.area)]);
		const areaUs = (which: 'batch' | 'noop', area: string) => perExecution(sessions[which].summary.byArea.find((a) => a.area === area)?.ms ?? 0);
		const functions = new Map<string, { area: string; diffUs: number }>();
		for (const fn of sessions.batch.summary.topFunctions) functions.set(fn.name, { area: fn.area, diffUs: perExecution(fn.ms) });
		for (const fn of sessions.noop.summary.topFunctions) {
			const entry = functions.get(fn.name) ?? { area: fn.area, diffUs: 0 };
			entry.diffUs -= perExecution(fn.ms);
			functions.set(fn.name, entry);
		}
		return {
			usersPerCall: opts.users,
			mode: opts.mode,
			calls: opts.calls,
			batchUsPerExecution: sessions.batch.cpuUs,
			noopUsPerExecution: sessions.noop.cpuUs,
			byArea: [...areas]
				.map((area) => ({ area, batchUs: areaUs('batch', area), noopUs: areaUs('noop', area), diffUs: areaUs('batch', area) - areaUs('noop', area) }))
				.sort((a, b) => b.diffUs - a.diffUs),
			topFunctions: [...functions]
				.map(([name, entry]) => ({ name, ...entry }))
				.sort((a, b) => b.diffUs - a.diffUs)
				.slice(0, 30),
		};
	} finally {
		await n8n?.stop().catch(() => undefined);
		await tiktok?.close();
	}
}
