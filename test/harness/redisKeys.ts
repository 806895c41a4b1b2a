import type Redis from 'ioredis';

/*
 * Keys on one Redis node, found with SCAN (never KEYS): what tests and the bench created under their own prefix,
 * to check and to delete. Nothing else is ever deleted.
 */

/** Every key matching the SCAN `pattern`. */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
	const keys: string[] = [];
	let cursor = '0';
	do {
		const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
		cursor = next;
		keys.push(...batch);
	} while (cursor !== '0');
	return keys;
}

/** Every key under `prefix:`. */
export function keysUnder(redis: Redis, prefix: string): Promise<string[]> {
	return scanKeys(redis, `${prefix}:*`);
}

/** Deletes every key under `prefix:`; returns how many. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
	const keys = await keysUnder(redis, prefix);
	for (let start = 0; start < keys.length; start += 500) await redis.unlink(...keys.slice(start, start + 500));
	return keys.length;
}
