import { digestHex } from '../../nodes/shared/digest';
import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import type { SyncUser } from '../../nodes/TikTokBatchSync/engine';

/** The n-th distinct bench user's raw email (a realistic mix: dots, a plus tag, mixed case on some). */
export function emailOf(n: number): string {
	switch (n % 4) {
		case 0:
			return `user${n}@example.com`;
		case 1:
			return `First.Last${n}@Example.com`;
		case 2:
			return `buyer${n}+ads@shop.example.org`;
		default:
			return ` user.${n}@mail.example.net `;
	}
}

/** Users [start, start + count) as the node hands them to the engine: normalised, hashed, keyed. */
export function hashedUsers(start: number, count: number): SyncUser[] {
	const users = new Array<SyncUser>(count);
	for (let i = 0; i < count; i++) {
		const { ids } = hashUser(['email'], [emailOf(start + i)]);
		users[i] = { key: dedupeKey(ids), ids };
	}
	return users;
}

/**
 * Synthetic users hashed without the normaliser (SHA-256 of a plain string): fast to make in bulk where only the
 * engine's handling of 64-hex ids matters.
 */
export function quickHashedUsers(start: number, count: number): SyncUser[] {
	const users = new Array<SyncUser>(count);
	for (let i = 0; i < count; i++) {
		const hash = digestHex('sha256', `bench-user-${start + i}@example.com`);
		users[i] = { key: hash, ids: [hash] };
	}
	return users;
}
