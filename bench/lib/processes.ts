/**
 * The bench's child processes: the local TikTok API (bench/server.ts) and one phase (bench/phase.ts) per fresh
 * process, each run with tsx from a checkout's root (this one, or another for side-by-side runs).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import type { ServerUrls } from './local';

export function tsxChild(root: string, file: string, args: string[], extraFlags: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
	return fork(join(root, file), args, {
		cwd: root,
		execArgv: ['--import', 'tsx', ...extraFlags],
		env,
		stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
	});
}

/** Starts the local TikTok API in bench mode; resolves with its URLs once it listens. */
export async function startLocalApi(root: string): Promise<{ child: ChildProcess; urls: ServerUrls }> {
	const child = tsxChild(root, 'bench/server.ts', ['--bench-mode'], []);
	const urls = await new Promise<ServerUrls>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error('the local TikTok API did not start in 30 s')), 30_000);
		child.once('message', (message) => {
			clearTimeout(timer);
			resolve(message as ServerUrls);
		});
		child.once('exit', (code) => reject(new Error(`the local TikTok API exited (${code})`)));
	});
	return { child, urls };
}

/** Runs one phase of `root`'s bench in a fresh process (--expose-gc, 4 GiB heap) and resolves with its result. */
export function runPhase<T>(root: string, urls: ServerUrls, name: string, args: unknown, timeoutMs: number, extraFlags: string[] = []): Promise<T> {
	const child = tsxChild(root, 'bench/phase.ts', [name, JSON.stringify(args)], ['--expose-gc', '--max-old-space-size=4096', ...extraFlags], {
		...process.env,
		BENCH_SERVER: JSON.stringify(urls),
	});
	return new Promise<T>((resolve, reject) => {
		let result: T | undefined;
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`${root}: phase ${name} took longer than ${timeoutMs / 1000} s`));
		}, timeoutMs);
		child.on('message', (message) => {
			result = (message as { result: T }).result;
		});
		child.once('exit', (code) => {
			clearTimeout(timer);
			if (result !== undefined && code === 0) resolve(result);
			else reject(new Error(`${root}: phase ${name} failed (exit ${code})`));
		});
	});
}
