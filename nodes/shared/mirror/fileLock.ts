import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

import { processWide } from '../processWide';
import { LockWaitTimeoutError } from '../redis/lock';

/**
 * The lock of a mirror kept on disk (regular n8n): runs of one audience never interleave.
 * - Within the process, a queue per lock: the second run waits for the first without touching the disk.
 * - Across processes sharing the folder (a second n8n, or `n8n execute`, on the same user folder), a lock file made
 *   with O_EXCL holding a token; its holder touches it while working. A file nobody touched for `staleMs` belongs to a
 *   process that died: it is taken over.
 * - Waited for at most `waitMs`: then LockWaitTimeoutError, and the work does not run.
 * - Taken over while the work runs (the holder was stalled past `staleMs`): the work's AbortSignal fires.
 */

export const DEFAULT_FILE_LOCK_WAIT_MS = 10 * 60_000;
export const DEFAULT_FILE_LOCK_STALE_MS = 30_000;

export interface FileLockOptions {
	waitMs?: number;
	staleMs?: number;
	/** What the lock protects, for the error message. */
	what?: string;
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function timeoutError(what: string, waitMs: number, staleMs: number): LockWaitTimeoutError {
	return new LockWaitTimeoutError(
		`Another run has been working on ${what} for over ${Math.round(waitMs / 1000)} s, so this run did not go ahead. ` +
			`Run it again once the other run has finished; a process that died frees the lock within ${Math.round(staleMs / 1000)} s.`,
	);
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<boolean>((resolve) => {
		timer = setTimeout(() => resolve(false), Math.max(0, ms));
	});
	try {
		return await Promise.race([promise.then(() => true, () => true), timeout]);
	} finally {
		clearTimeout(timer);
	}
}

async function readToken(path: string): Promise<string | undefined> {
	try {
		return (JSON.parse(await fs.readFile(path, 'utf8')) as { token?: string }).token;
	} catch {
		return undefined;
	}
}

/** Takes the lock file, waiting until `deadline`; returns its token. */
async function takeFile(path: string, deadline: number, staleMs: number, what: string, waitMs: number): Promise<string> {
	const token = randomUUID();
	await fs.mkdir(dirname(path), { recursive: true });
	let pauseMs = 25;
	for (;;) {
		try {
			const handle = await fs.open(path, 'wx');
			try {
				await handle.writeFile(JSON.stringify({ token, pid: process.pid, host: hostname(), since: new Date().toISOString() }));
			} finally {
				await handle.close();
			}
			return token;
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
		}
		const stat = await fs.stat(path).catch(() => undefined);
		if (stat && Date.now() - stat.mtimeMs > staleMs) {
			// Its holder stopped touching it: take it over (only if it is still the file we judged stale).
			const staleToken = await readToken(path);
			const again = await fs.stat(path).catch(() => undefined);
			if (again && again.mtimeMs === stat.mtimeMs && (await readToken(path)) === staleToken) await fs.rm(path, { force: true });
			continue;
		}
		if (Date.now() >= deadline) throw timeoutError(what, waitMs, staleMs);
		await pause(Math.min(pauseMs, Math.max(1, deadline - Date.now())));
		pauseMs = Math.min(500, pauseMs * 2);
	}
}

export async function withFileLock<T>(path: string, work: (signal: AbortSignal) => Promise<T>, options: FileLockOptions = {}): Promise<T> {
	const waitMs = options.waitMs ?? DEFAULT_FILE_LOCK_WAIT_MS;
	const staleMs = options.staleMs ?? DEFAULT_FILE_LOCK_STALE_MS;
	const what = options.what ?? 'this mirror';
	const deadline = Date.now() + waitMs;

	const queue = processWide('mirror-file-locks', () => new Map<string, Promise<void>>());
	const before = queue.get(path) ?? Promise.resolve();
	let done!: () => void;
	const mine = new Promise<void>((resolve) => (done = resolve));
	const tail = before.then(() => mine);
	queue.set(path, tail);
	try {
		if (!(await settlesWithin(before, deadline - Date.now()))) {
			// Leave the queue as if this run had finished at once once the one ahead finishes.
			throw timeoutError(what, waitMs, staleMs);
		}
		const token = await takeFile(path, deadline, staleMs, what, waitMs);
		const controller = new AbortController();
		const touch = async () => {
			if ((await readToken(path)) !== token) {
				controller.abort(new Error(`the lock on ${what} was taken over by another process`));
				return;
			}
			const now = new Date();
			await fs.utimes(path, now, now).catch(() => undefined);
		};
		const timer = setInterval(() => void touch(), Math.max(50, Math.floor(staleMs / 3)));
		timer.unref?.();
		try {
			return await work(controller.signal);
		} finally {
			clearInterval(timer);
			if ((await readToken(path)) === token) await fs.rm(path, { force: true });
		}
	} finally {
		done();
		if (queue.get(path) === tail) queue.delete(path);
	}
}
