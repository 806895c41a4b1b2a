/*
 * A throwaway redis-server on a free loopback port (Debian's redis-server as a child process, its own temporary
 * folder), for tests that need a Redis with settings of their own (persistence on or off) or one they may stop.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Redis from 'ioredis';

export interface RedisServerHandle {
	port: number;
	url: string;
	stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
	const server = createServer();
	await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
	const { port } = server.address() as { port: number };
	await new Promise<void>((resolve) => server.close(() => resolve()));
	return port;
}

/** Starts redis-server with `args` (e.g. ['--appendonly', 'yes']) and resolves once it answers PING. */
export async function startRedisServer(args: string[] = [], timeoutMs = 10_000): Promise<RedisServerHandle> {
	const port = await freePort();
	const dir = mkdtempSync(join(tmpdir(), 'tts-redis-'));
	const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, ...args], { stdio: 'ignore' });
	const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
	const stop = async () => {
		if (child.exitCode === null) child.kill('SIGKILL');
		await exited;
		rmSync(dir, { recursive: true, force: true });
	};
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
		probe.on('error', () => undefined);
		try {
			await probe.connect();
			await probe.ping();
			probe.disconnect();
			return { port, url: `redis://127.0.0.1:${port}`, stop };
		} catch {
			probe.disconnect();
			if (Date.now() > deadline) {
				await stop();
				throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
			}
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
	}
}
