/**
 * n8n in queue mode on loopback, one topology per test file: a fresh PostgreSQL database (127.0.0.1:5432, user
 * postgres, trust auth), an own redis-server child on a free port (a test may stop and start it without touching the
 * machine's shared Redis), `n8n start` (main: editor, REST, webhooks, triggers; enqueues executions) and N
 * `n8n worker`s (run them), each with its own user folder holding the same packed tarball of this package, and
 * optionally the local TikTok API in its own process with its request log on.
 *
 *   const q = await startQueueTopology({ major: 2, workers: 2, label: 'smoke', env: { N8N_TIKTOK_SYNC_LEASE_MS: '5000' } });
 *   q.client            // N8nClient on main (owner cookie + API key)
 *   q.workers[0].kill() // SIGKILL, like a crash; .start() brings it back (same health port, folder, log)
 *   q.redis.stop() / q.redis.start()   // same port; data is lost (no persistence)
 *   await q.redisKeys(q.packagePrefix)  // SCAN
 *   const other = await q.startExtraRedis('package')   // another redis-server (free port), stopped with the topology
 *   q.executionsByWorker() / q.workerOfExecution(id)   // from "Worker started execution N" in the worker logs
 *   await q.stop()      // processes, database, temp folders; logs stay in e2e-artifacts/queue-<major>/<label>/
 *
 * Every process group (n8n, redis, local TikTok) is recorded in the run's pid registry and each database in
 * <run dir>/databases/, so globalTeardown (queue-global-teardown.ts) cleans up what an aborted test file left.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import Redis from 'ioredis';

import { N8nClient, type Execution, type OwnerAccount } from './client';
import { startN8n, trackGroup, untrackGroup, type N8nInstance } from './n8n';
import { freePort, sleep } from './net';
import { buildPackage, packAndInstall, packPackage, type InstalledPackage, type PackedPackage } from './package';
import { REPO_DIR, selectedMajor, type N8nMajor } from './runtime';
import { startTikTokProcess, type LoggedRequest, type TikTokProcess } from './tiktok';

const run = promisify(execFile);

export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;
/** Set by queue-global-setup.ts: a tarball packed once per jest run (JSON of PackedPackage). */
export const PACKED_ENV = 'N8N_QUEUE_PACKED';
/** Set by queue-global-setup.ts: the run folder (pid registry, databases to drop on abort). */
export const RUN_DIR_ENV = 'N8N_E2E_STATE_FILE';

export interface QueueTopologyOptions {
	/** n8n major (default N8N_E2E_MAJOR or 2). */
	major?: N8nMajor;
	/** How many `n8n worker` processes (default 2). */
	workers?: number;
	/** Passed to every n8n process (main and workers), after the queue settings: the package's own settings. */
	env?: Record<string, string | undefined>;
	/** Extra env for workers only (e.g. { N8N_CONCURRENCY_PRODUCTION_LIMIT: '5' }). */
	workerEnv?: Record<string, string | undefined>;
	/** Extra `n8n worker` arguments (e.g. ['--concurrency=5']). */
	workerArgs?: string[];
	/** Names the artifacts folder e2e-artifacts/queue-<major>/<label>/ (default 'topology'). */
	label?: string;
	/** Start the local TikTok API (own process, request log on) and expose it as `tiktok`. Default false. */
	tiktok?: boolean | { env?: Record<string, string> };
}

export interface RedisServer {
	readonly port: number;
	readonly url: string;
	readonly pid: number | undefined;
	isRunning(): boolean;
	/** SIGTERM and wait (nothing is saved: `--save "" --appendonly no`). */
	stop(): Promise<void>;
	/** SIGKILL and wait. */
	kill(): Promise<void>;
	/** Start again on the same port (empty). */
	start(): Promise<void>;
	/** A new ioredis client (caller quits it). */
	client(): Redis;
}

export interface QueueTopology {
	readonly major: N8nMajor;
	readonly main: N8nInstance;
	readonly workers: N8nInstance[];
	readonly redis: RedisServer;
	readonly client: N8nClient;
	readonly owner: OwnerAccount;
	readonly apiKey: string;
	readonly dbName: string;
	/** QUEUE_BULL_PREFIX of this run. */
	readonly bullPrefix: string;
	/** N8N_TIKTOK_SYNC_REDIS_PREFIX of this run (also passed in `env` unless the caller set it). */
	readonly packagePrefix: string;
	readonly tiktok: TikTokProcess | undefined;
	readonly packed: PackedPackage;
	readonly installed: InstalledPackage[];
	/** e2e-artifacts/queue-<major>/<label>/ (logs). */
	readonly artifactsDir: string;
	/** Milliseconds: total, database, redis, main, owner+key, workers (all from the start of startQueueTopology). */
	readonly timings: Record<string, number>;
	/** The env every n8n process got on top of n8nEnvironment (queue settings + options.env). */
	readonly env: Record<string, string | undefined>;
	/** Keys of the topology's Redis matching `${prefix}*` (SCAN, never KEYS). */
	redisKeys(prefix: string): Promise<string[]>;
	/**
	 * Another redis-server of this topology on a free port (e.g. a separate Redis for the package through
	 * N8N_TIKTOK_SYNC_REDIS, which a test may stop without stopping n8n's queue); stopped with the topology, its log
	 * in the artifacts folder as redis-<name>.log.
	 */
	startExtraRedis(name: string): Promise<RedisServer>;
	/** Worker index → execution ids it started, read from the worker logs (all starts, across restarts). */
	executionsByWorker(): Array<{ started: string[]; finished: string[] }>;
	/** The index of the worker (0-based) that started execution `id` last; undefined if none did. */
	workerOfExecution(id: string | number): number | undefined;
	/** Request log of the local TikTok API (needs `tiktok` option). */
	tiktokRequests(opts?: { since?: number; path?: string }): Promise<LoggedRequest[]>;
	/** Lines of the worker logs that look wrong (ERROR/Error/warn lines minus known harmless noise). */
	oddWorkerLogLines(): string[];
	stop(): Promise<void>;
}

const randomSuffix = () => randomBytes(4).toString('hex');

function runDir(): string | undefined {
	const file = process.env[RUN_DIR_ENV];
	return file ? dirname(file) : undefined;
}

// ---- PostgreSQL ------------------------------------------------------------------------------------------------

/** Runs `sql` with psql on the test PostgreSQL (in `database`, default postgres); returns its unaligned output. */
export async function psql(sql: string, database = 'postgres'): Promise<string> {
	const { stdout } = await run('psql', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', database, '-v', 'ON_ERROR_STOP=1', '-Atc', sql], {
		env: { ...process.env, PGCONNECT_TIMEOUT: '5' },
	});
	return stdout.trim();
}

export async function createDatabase(name: string): Promise<void> {
	if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unsafe database name ${name}`);
	const dir = runDir();
	if (dir) {
		mkdirSync(join(dir, 'databases'), { recursive: true });
		writeFileSync(join(dir, 'databases', name), '');
	}
	await psql(`CREATE DATABASE ${name}`);
}

/** Drops a database this helper created (names start with n8n_e2e_); terminates its connections first. */
export async function dropDatabase(name: string): Promise<void> {
	if (!/^n8n_e2e_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a database of this helper`);
	await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
	const dir = runDir();
	if (dir) rmSync(join(dir, 'databases', name), { force: true });
}

/** Drop the databases recorded in <runDir>/databases/ (an aborted test file's). */
export async function dropRecordedDatabases(dir: string): Promise<void> {
	const folder = join(dir, 'databases');
	if (!existsSync(folder)) return;
	for (const name of readdirSync(folder)) await dropDatabase(name).catch(() => undefined);
}

// ---- Redis -----------------------------------------------------------------------------------------------------

class RedisChild implements RedisServer {
	private child: ChildProcess | undefined;
	private exited: Promise<void> | undefined;

	constructor(
		readonly port: number,
		private readonly dir: string,
		private readonly logFile: string,
	) {}

	get url() {
		return `redis://127.0.0.1:${this.port}`;
	}
	get pid() {
		return this.isRunning() ? this.child?.pid : undefined;
	}
	isRunning(): boolean {
		return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
	}

	async start(): Promise<void> {
		if (this.isRunning()) throw new Error(`redis-server is already running on ${this.port}`);
		mkdirSync(this.dir, { recursive: true });
		const fd = openSync(this.logFile, 'a');
		const child = spawn(
			'redis-server',
			['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--protected-mode', 'yes'],
			{ detached: true, stdio: ['ignore', fd, fd] },
		);
		closeSync(fd);
		this.child = child;
		this.exited = new Promise((r) => {
			child.once('exit', () => r());
			child.once('error', () => r());
		});
		if (child.pid) trackGroup(child.pid);
		const deadline = Date.now() + 10_000;
		for (;;) {
			const client = new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
			try {
				await client.connect();
				if ((await client.ping()) === 'PONG') return;
			} catch {
				// not listening yet
			} finally {
				client.disconnect();
			}
			if (!this.isRunning() || Date.now() > deadline) {
				throw new Error(`redis-server did not start on ${this.port}:\n${existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').slice(-2000) : ''}`);
			}
			await sleep(100);
		}
	}

	private async signal(signal: NodeJS.Signals): Promise<void> {
		const child = this.child;
		if (!child?.pid || !this.isRunning()) return;
		try {
			process.kill(child.pid, signal);
		} catch {
			// gone
		}
		let timer: NodeJS.Timeout | undefined;
		const done = await Promise.race([this.exited!.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
		clearTimeout(timer);
		if (!done) {
			try {
				process.kill(-child.pid, 'SIGKILL');
			} catch {
				// gone
			}
			await this.exited;
		}
		untrackGroup(child.pid);
	}

	stop(): Promise<void> {
		return this.signal('SIGTERM');
	}
	kill(): Promise<void> {
		return this.signal('SIGKILL');
	}

	client(): Redis {
		return new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: 1, lazyConnect: false });
	}
}

// ---- worker logs -----------------------------------------------------------------------------------------------

const STARTED = /Worker started execution (\d+)/g;
const FINISHED = /Worker finished execution (\d+)/g;
/** Log lines that look alarming but are expected on this box (no internet, no Python, no isolated-vm). */
const HARMLESS = [
	/Python task runner/i,
	/virtual environment/i,
	/ENOTFOUND/,
	/isolated-vm/i,
	/deprecat/i,
	/N8N_RUNNERS_ENABLED/,
	/N8N_BLOCK_ENV_ACCESS_IN_NODE/,
	/N8N_GIT_NODE_DISABLE_BARE_REPOS/,
	/OFFLOAD_MANUAL_EXECUTIONS_TO_WORKERS/,
	/version.*PostgreSQL|PostgreSQL.*version/i,
];

function readLog(file: string): string {
	return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

// ---- topology --------------------------------------------------------------------------------------------------

/** The tarball queue-global-setup packed, or a new one (build if stale + pack) when run outside that config. */
function packedTarball(): PackedPackage {
	const raw = process.env[PACKED_ENV];
	if (raw) {
		const packed = JSON.parse(raw) as PackedPackage;
		if (existsSync(packed.tarball)) return packed;
	}
	buildPackage();
	return packPackage();
}

export async function startQueueTopology(options: QueueTopologyOptions = {}): Promise<QueueTopology> {
	const t0 = Date.now();
	const timings: Record<string, number> = {};
	const mark = (name: string) => (timings[name] = Date.now() - t0);
	const major = options.major ?? selectedMajor();
	const workerCount = options.workers ?? 2;
	const label = options.label ?? 'topology';
	const id = randomSuffix();

	const workDir = mkdtempSync(join(tmpdir(), `n8n-tiktok-queue-${major}-`));
	const artifactsDir = join(REPO_DIR, 'e2e-artifacts', `queue-${major}`, label);
	rmSync(artifactsDir, { recursive: true, force: true });
	mkdirSync(artifactsDir, { recursive: true });

	const cleanups: Array<() => Promise<void>> = [];
	const cleanup = async () => {
		for (const fn of cleanups.reverse()) await fn().catch((error: unknown) => process.stderr.write(`[queue] cleanup: ${String(error)}\n`));
		cleanups.length = 0;
	};

	try {
		const dbName = `n8n_e2e_${id}`;
		await createDatabase(dbName);
		cleanups.push(() => dropDatabase(dbName));
		mark('database');

		const redis = new RedisChild(await freePort(), join(workDir, 'redis'), join(artifactsDir, 'redis.log'));
		await redis.start();
		cleanups.push(() => redis.stop());
		mark('redis');

		let tiktok: TikTokProcess | undefined;
		if (options.tiktok) {
			const extra = typeof options.tiktok === 'object' ? (options.tiktok.env ?? {}) : {};
			tiktok = await startTikTokProcess({ env: { TIKTOK_LOCAL_RECORD: '1', ...extra } });
			trackGroup(tiktok.pid);
			const local = tiktok;
			cleanups.push(async () => {
				await local.close();
				writeFileSync(join(artifactsDir, 'tiktok.log'), local.output());
				untrackGroup(local.pid);
			});
			mark('tiktok');
		}

		const bullPrefix = `bull-e2e-${id}`;
		const packagePrefix = options.env?.N8N_TIKTOK_SYNC_REDIS_PREFIX ?? `tts-e2e-${id}`;
		const env: Record<string, string | undefined> = {
			EXECUTIONS_MODE: 'queue',
			DB_TYPE: 'postgresdb',
			DB_POSTGRESDB_HOST: PG.host,
			DB_POSTGRESDB_PORT: String(PG.port),
			DB_POSTGRESDB_DATABASE: dbName,
			DB_POSTGRESDB_USER: PG.user,
			DB_POSTGRESDB_PASSWORD: '',
			QUEUE_BULL_REDIS_HOST: '127.0.0.1',
			QUEUE_BULL_REDIS_PORT: String(redis.port),
			QUEUE_BULL_PREFIX: bullPrefix,
			N8N_REDIS_KEY_PREFIX: `n8n-e2e-${id}`,
			// a stopped worker waits this long for its running executions (default 30 s)
			N8N_GRACEFUL_SHUTDOWN_TIMEOUT: '10',
			N8N_TIKTOK_SYNC_REDIS_PREFIX: packagePrefix,
			...options.env,
		};

		const packed = packedTarball();
		const installed: InstalledPackage[] = [];
		const mainFolder = join(workDir, 'main');
		installed.push(packAndInstall(mainFolder, { packed }));
		mark('install-main');

		const main = await startN8n({ majorVersion: major, userFolder: mainFolder, env, logFile: join(artifactsDir, 'main.log') });
		cleanups.push(() => main.stop());
		mark('main');

		const client = new N8nClient(main.baseUrl);
		const owner = await client.setupOwner();
		const apiKey = await client.createApiKey('queue-e2e');
		mark('owner');

		const workerFolders = Array.from({ length: workerCount }, (_, i) => join(workDir, `worker-${i + 1}`));
		for (const folder of workerFolders) installed.push(packAndInstall(folder, { packed }));
		mark('install-workers');
		const workers: N8nInstance[] = [];
		// one after the other: on 2 cores two cold starts side by side take about as long, and logs stay readable
		for (const [i, folder] of workerFolders.entries()) {
			const worker = await startN8n({
				majorVersion: major,
				command: 'worker',
				args: options.workerArgs,
				userFolder: folder,
				env: { ...env, ...options.workerEnv },
				logFile: join(artifactsDir, `worker-${i + 1}.log`),
			});
			workers.push(worker);
			cleanups.push(() => worker.stop());
		}
		mark('workers');
		timings.total = Date.now() - t0;

		const workerLogs = () => workers.map((w) => readLog(w.logFile));
		const topology: QueueTopology = {
			major,
			main,
			workers,
			redis,
			client,
			owner,
			apiKey,
			dbName,
			bullPrefix,
			packagePrefix,
			tiktok,
			packed,
			installed,
			artifactsDir,
			timings,
			env,
			async startExtraRedis(name: string) {
				if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`extra Redis name ${name}: use a-z, 0-9 and -`);
				const extra = new RedisChild(await freePort(), join(workDir, `redis-${name}`), join(artifactsDir, `redis-${name}.log`));
				await extra.start();
				cleanups.push(() => extra.stop());
				return extra;
			},
			async redisKeys(prefix: string) {
				const redisClient = redis.client();
				try {
					const keys: string[] = [];
					let cursor = '0';
					do {
						const [next, batch] = await redisClient.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
						cursor = next;
						keys.push(...batch);
					} while (cursor !== '0');
					return [...new Set(keys)].sort();
				} finally {
					redisClient.disconnect();
				}
			},
			executionsByWorker() {
				return workerLogs().map((text) => ({
					started: [...text.matchAll(STARTED)].map((m) => m[1]),
					finished: [...text.matchAll(FINISHED)].map((m) => m[1]),
				}));
			},
			workerOfExecution(executionId) {
				const wanted = String(executionId);
				let found: number | undefined;
				let foundAt = -1;
				workerLogs().forEach((text, index) => {
					for (const match of text.matchAll(STARTED)) {
						// the latest start in any log wins (a retried or re-run job); logs are compared by their own order only
						if (match[1] === wanted && (found === undefined || match.index! > foundAt)) {
							found = index;
							foundAt = match.index!;
						}
					}
				});
				return found;
			},
			async tiktokRequests(opts = {}) {
				if (!tiktok) throw new Error('startQueueTopology({ tiktok: true }) starts the local TikTok API');
				return (await tiktok.control.requests(opts)).entries;
			},
			oddWorkerLogLines() {
				return workerLogs()
					.flatMap((text, i) => text.split('\n').map((line) => `worker-${i + 1}: ${line}`))
					.filter((line) => /\b(error|warn|warning|exception|unhandled|crash)/i.test(line))
					.filter((line) => !HARMLESS.some((pattern) => pattern.test(line)));
			},
			async stop() {
				await cleanup();
				rmSync(workDir, { recursive: true, force: true });
			},
		};
		return topology;
	} catch (error) {
		await cleanup();
		if (process.env.N8N_E2E_KEEP !== '1') rmSync(workDir, { recursive: true, force: true });
		throw error;
	}
}

// ---- analysis helpers for assertions ---------------------------------------------------------------------------

/** The most entries in any sliding window of `windowMs` (by `at`), e.g. requests per sliding second across workers. */
export function maxPerSlidingWindow(entries: Array<{ at: number }>, windowMs = 1000): number {
	const times = entries.map((e) => e.at).sort((a, b) => a - b);
	let max = 0;
	let head = 0;
	for (let i = 0; i < times.length; i++) {
		while (times[i] - times[head] >= windowMs) head++;
		max = Math.max(max, i - head + 1);
	}
	return max;
}

/** Distinct mapping ids of the entries TikTok accepted (code 0), and how many rows were accepted in all. */
export function acceptedIds(entries: LoggedRequest[], action: 'add' | 'delete' = 'add'): { distinct: Set<string>; rows: number } {
	const distinct = new Set<string>();
	let rows = 0;
	for (const entry of entries) {
		if (entry.path !== 'segment/mapping/' || entry.code !== 0 || (entry.action ?? 'add') !== action) continue;
		rows += entry.rows ?? 0;
		for (const id of entry.ids ?? []) distinct.add(id);
	}
	return { distinct, rows };
}

/** Copy a file into the topology's artifacts folder (e.g. a test's own output). */
export function keepArtifact(topology: QueueTopology, file: string, name: string): void {
	if (existsSync(file)) copyFileSync(file, join(topology.artifactsDir, name));
}

/**
 * The finished executions of a workflow (those `where` accepts), at least `count`, with their data. Seen in CI, on
 * n8n 1.123.81 and 2.41.1: the REST API kept listing an execution as unfinished for minutes although its worker
 * (and main) had logged it finished, or left it out of the list altogether. When the REST API does not get there within
 * `timeoutMs`, executions the workers logged finished are accepted as they are (read one by one when the list leaves
 * them out), and named in `lagging`; an execution no worker finished still fails.
 */
export async function finishedExecutionsOf(
	q: QueueTopology,
	workflowId: string,
	count: number,
	opts: { where?: (execution: Execution) => boolean; timeoutMs?: number } = {},
): Promise<{ executions: Execution[]; lagging: string[] }> {
	const where = opts.where ?? (() => true);
	const timeoutMs = opts.timeoutMs ?? 60_000;
	try {
		await q.client.waitForExecutions(workflowId, count, { where, timeoutMs });
		return { executions: await q.client.waitForExecutions(workflowId, count, { where, timeoutMs, includeData: true }), lagging: [] };
	} catch (error) {
		const listed = (await q.client.listAllExecutions({ workflowId, includeData: true })).filter(where);
		const finishedInLogs = new Set(q.executionsByWorker().flatMap((w) => w.finished));
		// The list leaves out what main still counts as running (n8n's public API excludes its ActiveExecutions; seen
		// on n8n 1.123.81: 39 of 40 listed for minutes). An execution a worker logged finished is read by its ID instead.
		const listedIds = new Set(listed.map((e) => String(e.id)));
		for (const id of finishedInLogs) {
			if (listedIds.has(id)) continue;
			const single = await q.client.getExecution(id).catch(() => undefined);
			if (single && String(single.workflowId) === workflowId && where(single)) listed.push(single);
		}
		const terminal = ['success', 'error', 'crashed', 'canceled'];
		const lagging = listed.filter((e) => !terminal.includes(e.status) || e.data?.resultData?.runData === undefined);
		const names = lagging.map((e) => `${e.id}: ${e.status}${e.data?.resultData?.runData === undefined ? ' (no run data)' : ''}`);
		if (listed.length < count || !lagging.every((e) => finishedInLogs.has(String(e.id)))) throw error;
		// no data to read from these: they show no node runs
		for (const e of lagging) if (e.data?.resultData?.runData === undefined) (e as { data?: unknown }).data = { resultData: { runData: {} } };
		return { executions: listed, lagging: names };
	}
}
