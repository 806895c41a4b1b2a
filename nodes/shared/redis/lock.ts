import { randomUUID } from 'node:crypto';

import { redisFailure, type RedisHandle } from './client';
import { taggedKey } from './keys';

/**
 * A lock shared by every n8n process on one Redis (queue mode): work that must not run twice at once across
 * workers, e.g. creating an audience by name or one mirror run of an audience.
 *
 * - Taken with SET NX and a lease (PX), so a holder that dies frees it when the lease ends.
 * - Extended while the work runs (every third of the lease), so slow work keeps it.
 * - Released only by its holder (the token).
 * - Not taken within `waitMs`: LockWaitTimeoutError, and the work does not run (running it anyway would let two
 *   processes do what the lock exists to prevent).
 * - Lost while the work runs (an extension found another holder, or Redis stayed unreachable until the lease ran
 *   out): the work's AbortSignal fires, so it can stop before doing more.
 *
 * Waiting polls with a growing pause (50 ms to 500 ms, with jitter): locks are rare and short here, and a blocking
 * read would need a connection of its own per waiter.
 */

export const DEFAULT_LOCK_LEASE_MS = 30_000;
export const DEFAULT_LOCK_WAIT_MS = 60_000;
const FIRST_PAUSE_MS = 50;
const LONGEST_PAUSE_MS = 500;

export interface LockOptions {
	/** How long the lock is held without an extension (ms). */
	leaseMs?: number;
	/** How long to wait for it before giving up (ms). */
	waitMs?: number;
	/** What the lock protects, for the error message (e.g. 'the audience "Buyers"'). Never a raw identifier. */
	what?: string;
}

export class LockWaitTimeoutError extends Error {
	override readonly name = 'LockWaitTimeoutError';
}

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

export function lockKey(keyPrefix: string, name: string): string {
	return taggedKey(keyPrefix, 'l', name, 'lock');
}

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function withRedisLock<T>(
	redis: RedisHandle,
	name: string,
	work: (signal: AbortSignal) => Promise<T>,
	options: LockOptions = {},
): Promise<T> {
	const { client, target } = redis;
	const key = lockKey(target.keyPrefix, name);
	const token = randomUUID();
	const leaseMs = Math.max(1_000, options.leaseMs ?? DEFAULT_LOCK_LEASE_MS);
	const waitMs = Math.max(0, options.waitMs ?? DEFAULT_LOCK_WAIT_MS);
	const startedAt = Date.now();

	let pauseMs = FIRST_PAUSE_MS;
	for (;;) {
		let taken: boolean;
		try {
			taken = (await client.set(key, token, 'PX', leaseMs, 'NX')) === 'OK';
		} catch (error) {
			throw redisFailure(target, client, error);
		}
		if (taken) break;
		const left = startedAt + waitMs - Date.now();
		if (left <= 0) {
			const what = options.what ?? 'this work';
			throw new LockWaitTimeoutError(
				`Another n8n process has held the lock on ${what} for over ${Math.round(waitMs / 1000)} s, so this run did not go ahead. ` +
					'Run it again once the other run has finished; a process that died frees the lock within ' +
					`${Math.round(leaseMs / 1000)} s.`,
			);
		}
		await pause(Math.min(left, pauseMs * (0.75 + Math.random() / 2)));
		pauseMs = Math.min(LONGEST_PAUSE_MS, pauseMs * 2);
	}

	const controller = new AbortController();
	let lastExtendedAt = Date.now();
	const extend = async () => {
		try {
			const kept = Number(await client.eval(EXTEND, 1, key, token, leaseMs));
			if (kept === 1) lastExtendedAt = Date.now();
			else controller.abort(new Error(`the lock on ${options.what ?? 'this work'} was taken over by another process`));
		} catch {
			// Redis unreachable for a moment: the lock holds until its lease runs out; past that it may be someone else's.
			if (Date.now() - lastExtendedAt >= leaseMs) {
				controller.abort(new Error(`the lock on ${options.what ?? 'this work'} lapsed while Redis was unreachable`));
			}
		}
	};
	const timer = setInterval(() => void extend(), Math.max(100, Math.floor(leaseMs / 3)));
	timer.unref?.();
	try {
		return await work(controller.signal);
	} finally {
		clearInterval(timer);
		if (!controller.signal.aborted) await client.eval(RELEASE, 1, key, token).catch(() => undefined);
	}
}
