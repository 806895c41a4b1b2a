/**
 * Start and stop a real n8n (provisioned by scripts/provision-n8n.sh) on 127.0.0.1, one process group per instance.
 * The environment (n8nEnvironment): every listener on 127.0.0.1; telemetry, templates and version checks off (no
 * internet); the legacy expression engine (isolated-vm is not built, provisioning uses --ignore-scripts; 1.x cannot
 * start without it); NODE_ENV=production, as users run n8n.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { freePort, sleep } from './net';
import { getRuntime, selectedMajor, type N8nMajor, type N8nRuntime } from './runtime';

export * from './client';

/** Fixed so that credentials stay readable across restarts of the same user folder. */
export const E2E_ENCRYPTION_KEY = 'n8n-tiktok-audience-sync-e2e-key';

export interface StartN8nOptions {
	/** 2 (default: N8N_E2E_MAJOR or 2) = n8n 2.41.1 on Node 24; 1 = n8n 1.123.81 on the system Node. */
	majorVersion?: N8nMajor;
	/**
	 * 'start' (default): the main process, ready when GET /rest/settings answers on `port`. 'worker': `n8n worker`
	 * (queue mode; needs the queue env: EXECUTIONS_MODE, DB_*, QUEUE_BULL_*); `port` is then its health-check server
	 * (QUEUE_HEALTH_CHECK_ACTIVE=true, QUEUE_HEALTH_CHECK_PORT) and it is ready when /healthz/readiness answers 200.
	 */
	command?: 'start' | 'worker';
	/** Extra command-line arguments, e.g. ['--concurrency=5'] for a worker. */
	args?: string[];
	/** n8n keeps its data in <userFolder>/.n8n (SQLite DB, config, nodes/). Created if missing. */
	userFolder: string;
	/** HTTP port on 127.0.0.1; default: a free port. */
	port?: number;
	/** Task-runner broker port; default: a free port (must differ per running instance). */
	runnersBrokerPort?: number;
	/** Extra environment for n8n; a value of undefined removes a variable. */
	env?: Record<string, string | undefined>;
	/** Appended to across restarts; default <userFolder>/n8n.log. */
	logFile?: string;
	/** How long to wait for /healthz/readiness and GET /rest/settings; default 180 s. */
	readyTimeoutMs?: number;
}

/** Everything needed to (re)start the same instance, also from another module (see shared.ts). */
export interface N8nInstanceConfig {
	majorVersion: N8nMajor;
	/** undefined = 'start' (state files written before workers existed have none). */
	command?: 'start' | 'worker';
	args?: string[];
	userFolder: string;
	port: number;
	runnersBrokerPort: number;
	env: Record<string, string | undefined>;
	logFile: string;
	readyTimeoutMs: number;
}

export interface N8nInstance {
	readonly baseUrl: string;
	readonly port: number;
	readonly userFolder: string;
	readonly logFile: string;
	readonly majorVersion: N8nMajor;
	readonly n8nVersion: string;
	readonly config: N8nInstanceConfig;
	/** pid of the n8n main process (= its process group id); undefined when stopped. */
	readonly pid: number | undefined;
	/** Milliseconds the last start took until ready. */
	readonly lastStartupMs: number;
	/** SIGTERM, wait for a clean exit (SIGKILL to the group after `timeoutMs`, default 30 s). */
	stop(timeoutMs?: number): Promise<void>;
	/** SIGKILL to the whole process group (n8n and its task runner), like a crash; waits until it is gone. */
	kill(): Promise<void>;
	/** Stop (or, with `{ kill: true }`, SIGKILL) and start again on the same port and user folder; waits until ready. */
	restart(opts?: { kill?: boolean }): Promise<void>;
	/** Start a stopped instance again. */
	start(): Promise<void>;
	isRunning(): boolean;
	/** The last `lines` lines of the log file. */
	logTail(lines?: number): string;
	/** Wait until the log (written since this instance's last start) matches `pattern`. */
	waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Environment variables n8n must not inherit from the test process (npm, jest, another n8n). */
const INHERITED_BLOCKLIST = /^(npm_|N8N_|DB_|EXECUTIONS_|QUEUE_|WEBHOOK_URL$|NODE_OPTIONS$|NODE_ENV$|NODE_PATH$|JEST_|TS_JEST|GENERIC_TIMEZONE$)/;

export function n8nEnvironment(runtime: N8nRuntime, config: N8nInstanceConfig): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [key, value] of Object.entries(process.env)) {
		if (!INHERITED_BLOCKLIST.test(key) && value !== undefined) env[key] = value;
	}
	Object.assign(env, {
		PATH: `${runtime.nodeBinDir}:${process.env.PATH ?? '/usr/bin:/bin'}`,
		NODE_ENV: 'production',
		N8N_USER_FOLDER: config.userFolder,
		N8N_PORT: String(config.port),
		N8N_LISTEN_ADDRESS: '127.0.0.1',
		N8N_HOST: '127.0.0.1',
		N8N_PROTOCOL: 'http',
		N8N_RUNNERS_BROKER_PORT: String(config.runnersBrokerPort),
		N8N_RUNNERS_BROKER_LISTEN_ADDRESS: '127.0.0.1',
		N8N_ENCRYPTION_KEY: E2E_ENCRYPTION_KEY,
		N8N_EXPRESSION_ENGINE: 'legacy',
		DB_TYPE: 'sqlite',
		N8N_DIAGNOSTICS_ENABLED: 'false',
		N8N_PERSONALIZATION_ENABLED: 'false',
		N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
		N8N_TEMPLATES_ENABLED: 'false',
		N8N_HIRING_BANNER_ENABLED: 'false',
		N8N_SECURE_COOKIE: 'false',
		N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'true',
		N8N_LOG_LEVEL: process.env.N8N_E2E_LOG_LEVEL || 'info',
		N8N_LOG_OUTPUT: 'console',
		GENERIC_TIMEZONE: 'UTC',
		TZ: 'UTC',
	});
	// 1.x runs the Code node in-process unless runners are enabled; 2.x always uses them (the variable is deprecated).
	if (config.majorVersion === 1) env.N8N_RUNNERS_ENABLED = 'true';
	// 2.x refreshes an MCP server list from api.n8n.io (unreachable here: a long ENOTFOUND stack in every log)
	if (config.majorVersion === 2) env.N8N_DISABLED_MODULES = 'mcp-registry';
	if (config.command === 'worker') {
		// the worker's own HTTP server (health checks) on `port`, loopback only
		env.QUEUE_HEALTH_CHECK_ACTIVE = 'true';
		env.QUEUE_HEALTH_CHECK_PORT = String(config.port);
		env.N8N_WORKER_SERVER_ADDRESS = '127.0.0.1';
	}
	for (const [key, value] of Object.entries(config.env)) {
		if (value === undefined) delete env[key];
		else env[key] = value;
	}
	return env;
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
	for (const target of [-pid, pid]) {
		try {
			process.kill(target, signal);
		} catch {
			// already gone
		}
	}
}

/**
 * Process groups started by this module are SIGKILLed if the process exits without stopping them. Inside jest
 * test files `process.once('exit')` does not reach the real process, so during an e2e run each live group is
 * also recorded as a file in <run dir>/pids/, which global-setup's abort handler and globalTeardown kill.
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
function pidRegistry(): string | undefined {
	const stateFile = process.env.N8N_E2E_STATE_FILE;
	return stateFile ? join(dirname(stateFile), 'pids') : undefined;
}
export function trackGroup(pid: number): void {
	liveGroups.add(pid);
	const registry = pidRegistry();
	if (registry) {
		mkdirSync(registry, { recursive: true });
		writeFileSync(join(registry, String(pid)), '');
	}
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	process.once('exit', () => {
		for (const group of liveGroups) signalGroup(group, 'SIGKILL');
	});
}
export function untrackGroup(pid: number): void {
	liveGroups.delete(pid);
	const registry = pidRegistry();
	if (registry) rmSync(join(registry, String(pid)), { force: true });
}

/** SIGKILL every process group recorded in the run's pid registry (see trackGroup). */
export function killRegisteredGroups(runDir: string): void {
	const registry = join(runDir, 'pids');
	if (!existsSync(registry)) return;
	for (const name of readdirSync(registry)) {
		const pid = Number(name);
		if (Number.isInteger(pid) && pid > 1) signalGroup(pid, 'SIGKILL');
		rmSync(join(registry, name), { force: true });
	}
}

class N8nProcess implements N8nInstance {
	readonly runtime: N8nRuntime;
	private child: ChildProcess | undefined;
	private childExited: Promise<void> | undefined;
	private currentPid: number | undefined;
	private logOffsetAtStart = 0;
	lastStartupMs = 0;

	constructor(
		readonly config: N8nInstanceConfig,
		attachedPid?: number,
		private readonly onPidChange?: (pid: number | undefined) => void,
	) {
		this.runtime = getRuntime(config.majorVersion);
		this.currentPid = attachedPid;
	}

	get baseUrl() {
		return `http://127.0.0.1:${this.config.port}`;
	}
	get port() {
		return this.config.port;
	}
	get userFolder() {
		return this.config.userFolder;
	}
	get logFile() {
		return this.config.logFile;
	}
	get majorVersion() {
		return this.config.majorVersion;
	}
	get n8nVersion() {
		return this.runtime.n8nVersion;
	}
	get pid() {
		return this.currentPid !== undefined && isAlive(this.currentPid) ? this.currentPid : undefined;
	}

	isRunning(): boolean {
		return this.pid !== undefined;
	}

	async start(): Promise<void> {
		if (this.isRunning()) throw new Error(`n8n is already running (pid ${this.currentPid})`);
		const t0 = Date.now();
		mkdirSync(this.config.userFolder, { recursive: true });
		const fd = openSync(this.config.logFile, 'a');
		const command = this.config.command ?? 'start';
		const banner = `\n===== ${new Date().toISOString()} starting n8n ${command} ${this.runtime.n8nVersion} (node ${this.runtime.node}) on ${this.baseUrl} =====\n`;
		writeSync(fd, banner);
		this.logOffsetAtStart = existsSync(this.config.logFile) ? readFileSync(this.config.logFile).length : 0;
		const child = spawn(this.runtime.node, [this.runtime.n8nBin, command, ...(this.config.args ?? [])], {
			cwd: this.config.userFolder,
			env: n8nEnvironment(this.runtime, this.config),
			detached: true, // own process group: kill() takes the task runner with it
			stdio: ['ignore', fd, fd],
		});
		closeSync(fd);
		this.child = child;
		this.currentPid = child.pid;
		if (child.pid !== undefined) trackGroup(child.pid);
		this.onPidChange?.(child.pid);
		this.childExited = new Promise((resolveExit) => {
			child.once('exit', () => resolveExit());
			child.once('error', () => resolveExit());
		});
		await this.waitUntilReady(child);
		this.lastStartupMs = Date.now() - t0;
	}

	private async waitUntilReady(child: ChildProcess): Promise<void> {
		const deadline = Date.now() + this.config.readyTimeoutMs;
		const exited = () => child.exitCode !== null || child.signalCode !== null;
		let stage: 'readiness' | 'settings' = 'readiness';
		while (Date.now() < deadline) {
			if (exited()) {
				throw new Error(`n8n exited during startup (code ${child.exitCode}, signal ${child.signalCode}); log ${this.config.logFile}:\n${this.logTail(40)}`);
			}
			try {
				const path = stage === 'readiness' ? '/healthz/readiness' : '/rest/settings';
				const response = await fetch(this.baseUrl + path, { signal: AbortSignal.timeout(5000) });
				await response.arrayBuffer();
				if (response.status === 200) {
					// a worker has no REST API: its health server's readiness (DB and Redis connected) is all there is
					if (stage === 'settings' || this.config.command === 'worker') return;
					stage = 'settings';
					continue;
				}
			} catch {
				// not listening yet
			}
			await sleep(300);
		}
		await this.kill();
		throw new Error(`n8n was not ready (${stage}) after ${this.config.readyTimeoutMs} ms; log ${this.config.logFile}:\n${this.logTail(40)}`);
	}

	private async waitGone(pid: number, timeoutMs: number): Promise<boolean> {
		const deadline = Date.now() + timeoutMs;
		if (this.child && this.child.pid === pid && this.childExited) {
			let timer: NodeJS.Timeout | undefined;
			const done = await Promise.race([
				this.childExited.then(() => true),
				new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
			]);
			clearTimeout(timer);
			if (done) return true;
		}
		while (Date.now() < deadline) {
			if (!isAlive(pid)) return true;
			await sleep(100);
		}
		return !isAlive(pid);
	}

	async stop(timeoutMs = 30_000): Promise<void> {
		const pid = this.currentPid;
		if (pid === undefined || !isAlive(pid)) return;
		try {
			process.kill(pid, 'SIGTERM');
		} catch {
			// gone
		}
		if (!(await this.waitGone(pid, timeoutMs))) {
			signalGroup(pid, 'SIGKILL');
			await this.waitGone(pid, 10_000);
		}
		signalGroup(pid, 'SIGKILL'); // stray task runners
		untrackGroup(pid);
		this.currentPid = undefined;
		this.onPidChange?.(undefined);
	}

	async kill(): Promise<void> {
		const pid = this.currentPid;
		if (pid === undefined) return;
		signalGroup(pid, 'SIGKILL');
		await this.waitGone(pid, 10_000);
		untrackGroup(pid);
		this.currentPid = undefined;
		this.onPidChange?.(undefined);
	}

	async restart(opts: { kill?: boolean } = {}): Promise<void> {
		if (opts.kill) await this.kill();
		else await this.stop();
		await this.start();
	}

	logTail(lines = 60): string {
		if (!existsSync(this.config.logFile)) return '';
		return readFileSync(this.config.logFile, 'utf8').split('\n').slice(-lines).join('\n');
	}

	async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		while (Date.now() < deadline) {
			const text = existsSync(this.config.logFile) ? readFileSync(this.config.logFile).subarray(this.logOffsetAtStart).toString('utf8') : '';
			const match = pattern.exec(text);
			if (match) return match[0];
			await sleep(200);
		}
		throw new Error(`n8n log did not match ${pattern} within ${timeoutMs} ms; tail:\n${this.logTail(20)}`);
	}
}

export async function resolveN8nConfig(options: StartN8nOptions): Promise<N8nInstanceConfig> {
	return {
		majorVersion: options.majorVersion ?? selectedMajor(),
		...(options.command && options.command !== 'start' ? { command: options.command } : {}),
		...(options.args?.length ? { args: options.args } : {}),
		userFolder: options.userFolder,
		port: options.port ?? (await freePort()),
		runnersBrokerPort: options.runnersBrokerPort ?? (await freePort()),
		env: options.env ?? {},
		logFile: options.logFile ?? join(options.userFolder, 'n8n.log'),
		readyTimeoutMs: options.readyTimeoutMs ?? 180_000,
	};
}

/** Start n8n and wait until its REST API answers. Stop it with `stop()` (or `kill()`). */
export async function startN8n(options: StartN8nOptions): Promise<N8nInstance> {
	const instance = new N8nProcess(await resolveN8nConfig(options));
	await instance.start();
	return instance;
}

/**
 * A handle on an n8n started elsewhere (another module of the same test run) from its config and pid.
 * `onPidChange` is called when stop/kill/start change the pid (right after spawning, before readiness).
 */
export function attachN8n(config: N8nInstanceConfig, pid: number | undefined, onPidChange?: (pid: number | undefined) => void): N8nInstance {
	return new N8nProcess(config, pid, onPidChange);
}
