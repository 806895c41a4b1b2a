/*
 * A throwaway 3-node Redis Cluster on loopback, for tests: Debian's redis-server as child processes (no daemonize),
 * each with its cluster config in a fresh temporary folder, no persistence; `redis-cli --cluster create` assigns the
 * slots (no replicas). stop() kills the processes and removes the folder.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const HOST = '127.0.0.1';
/** Redis Cluster's bus listens on port + 10000. */
const BUS_OFFSET = 10000;

export interface RedisClusterNode {
	host: string;
	port: number;
}

export interface RedisClusterHandle {
	nodes: RedisClusterNode[];
	/** The redis-server processes' ids (tests check they are gone after stop()). */
	pids: number[];
	/** The cluster's temporary folder (removed by stop()). */
	dir: string;
	stop(): Promise<void>;
}

export interface StartRedisClusterOptions {
	/** Number of masters (default 3; Redis Cluster needs at least 3). */
	size?: number;
	/** How long to wait for the cluster to come up (default 20 s). */
	timeoutMs?: number;
	redisServer?: string;
	redisCli?: string;
}

async function portIsFree(port: number): Promise<boolean> {
	return await new Promise((resolve) => {
		const server = createServer();
		server.once('error', () => resolve(false));
		server.listen({ port, host: HOST, exclusive: true }, () => server.close(() => resolve(true)));
	});
}

async function ephemeralPort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = createServer();
		server.once('error', reject);
		server.listen({ port: 0, host: HOST, exclusive: true }, () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

/** `count` distinct loopback ports p (below 55536) whose p + 10000 is free as well. */
async function freePorts(count: number): Promise<number[]> {
	const ports: number[] = [];
	for (let attempt = 0; ports.length < count && attempt < 500; attempt++) {
		// Half the attempts from the OS's ephemeral range, half from a random one below it (the ephemeral range often
		// starts at 32768, so port + 10000 may fall outside 65535).
		const port = attempt % 2 === 0 ? await ephemeralPort() : 20000 + Math.floor(Math.random() * 25000);
		if (port <= 0 || port + BUS_OFFSET > 65535 || ports.includes(port) || ports.includes(port + BUS_OFFSET)) continue;
		if (ports.some((p) => p + BUS_OFFSET === port)) continue;
		if ((await portIsFree(port)) && (await portIsFree(port + BUS_OFFSET))) ports.push(port);
	}
	if (ports.length < count) throw new Error('redisCluster: no free loopback ports');
	return ports;
}

const delay = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms));

async function cli(redisCli: string, port: number, ...args: string[]): Promise<string> {
	const { stdout } = await run(redisCli, ['-h', HOST, '-p', String(port), ...args], { timeout: 10_000 });
	return stdout;
}

async function waitFor(what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
	let lastError: unknown;
	while (Date.now() < deadline) {
		try {
			if (await check()) return;
		} catch (error) {
			lastError = error;
		}
		await delay(100);
	}
	throw new Error(`redisCluster: timed out waiting for ${what}${lastError ? ` (${String(lastError)})` : ''}`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
	if (child.exitCode !== null || child.signalCode !== null) return;
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	child.kill('SIGTERM');
	const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
	await exited;
	clearTimeout(timer);
}

export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
	const size = options.size ?? 3;
	const redisServer = options.redisServer ?? 'redis-server';
	const redisCli = options.redisCli ?? 'redis-cli';
	const deadline = Date.now() + (options.timeoutMs ?? 20_000);
	const dir = mkdtempSync(join(process.env.TIKTOK_TEST_TMP ?? tmpdir(), 'redis-cluster-'));
	const children: ChildProcess[] = [];
	const logs = new Map<number, string>();
	// If the test process dies without stop(), do not leave redis-servers behind.
	const killAll = (): void => {
		for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
	};
	process.once('exit', killAll);

	let stopped = false;
	const stop = async (): Promise<void> => {
		if (stopped) return;
		stopped = true;
		await Promise.all(children.map(stopProcess));
		process.removeListener('exit', killAll);
		rmSync(dir, { recursive: true, force: true });
	};

	try {
		const ports = await freePorts(size);
		for (const port of ports) {
			const child = spawn(
				redisServer,
				[
					'--port', String(port),
					'--bind', HOST,
					'--cluster-enabled', 'yes',
					'--cluster-config-file', join(dir, `nodes-${port}.conf`),
					'--cluster-node-timeout', '5000',
					'--dir', dir,
					'--save', '',
					'--appendonly', 'no',
					'--daemonize', 'no',
					'--logfile', '',
				],
				{ stdio: ['ignore', 'pipe', 'pipe'] },
			);
			logs.set(port, '');
			const keep = (chunk: Buffer): void => {
				logs.set(port, ((logs.get(port) ?? '') + chunk.toString()).slice(-4000));
			};
			child.stdout?.on('data', keep);
			child.stderr?.on('data', keep);
			children.push(child);
		}
		for (const [i, port] of ports.entries()) {
			await waitFor(`redis-server on ${port}`, deadline, async () => {
				if (children[i].exitCode !== null) throw new Error(`redis-server exited: ${logs.get(port)}`);
				return (await cli(redisCli, port, 'ping')).trim() === 'PONG';
			});
		}
		await run(
			redisCli,
			['--cluster', 'create', ...ports.map((port) => `${HOST}:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
			{ timeout: Math.max(1000, deadline - Date.now()) },
		);
		for (const port of ports) {
			await waitFor(`cluster_state:ok on ${port}`, deadline, async () =>
				/cluster_state:ok/.test(await cli(redisCli, port, 'cluster', 'info')),
			);
		}
		return {
			nodes: ports.map((port) => ({ host: HOST, port })),
			pids: children.map((child) => child.pid ?? -1),
			dir,
			stop,
		};
	} catch (error) {
		await stop();
		throw error;
	}
}
