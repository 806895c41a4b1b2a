import type { SharedAudienceNames } from '../audiences';
import { redisFailure, type RedisHandle } from './client';
import { taggedKey } from './keys';
import { withRedisLock } from './lock';

/**
 * Audience names made once across every n8n process (queue mode): a lock per ad account and name around the lookup
 * or create, and the ID a process created, which the others reuse while TikTok's list does not show it yet.
 */

/** How long a created audience's ID is remembered for other processes (TikTok's list catches up within minutes). */
const CREATED_ID_TTL_MS = 24 * 3_600_000;
/** Listing up to 400 audiences and creating one takes a few requests; a holder that dies frees the lock within this. */
const NAME_LOCK_LEASE_MS = 30_000;
const NAME_LOCK_WAIT_MS = 60_000;

/** The audience name in a key made by ensureAudience (`<base URL>\0<ad account>\0<name>`), for messages. */
function describeKey(key: string): string {
	const [, advertiserId, name] = key.split('\u0000');
	return name === undefined ? 'this audience name' : `the audience name "${name}" of ad account ${advertiserId}`;
}

export function audienceNamesOn(redis: RedisHandle, lock: { leaseMs?: number; waitMs?: number } = {}): SharedAudienceNames {
	const valueKey = (key: string) => taggedKey(redis.target.keyPrefix, 'v', `audience:${key}`, 'value');
	const fail = (error: unknown) => redisFailure(redis.target, redis.client, error);
	return {
		withLock: (key, work) =>
			withRedisLock(redis, `audience:${key}`, () => work(), {
				leaseMs: lock.leaseMs ?? NAME_LOCK_LEASE_MS,
				waitMs: lock.waitMs ?? NAME_LOCK_WAIT_MS,
				what: describeKey(key),
			}),
		recall: async (key) => {
			try {
				return (await redis.client.get(valueKey(key))) ?? undefined;
			} catch (error) {
				throw fail(error);
			}
		},
		note: async (key, audienceId) => {
			try {
				await redis.client.set(valueKey(key), audienceId, 'PX', CREATED_ID_TTL_MS);
			} catch (error) {
				throw fail(error);
			}
		},
	};
}
