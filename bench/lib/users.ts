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

/** The default country the phone pass runs with (the UK), given as users type it: a calling code. */
export const PHONE_DEFAULT_COUNTRY = '44';

/**
 * The n-th distinct bench user's raw phone: a mix of writings seen in CRMs, every one a valid number. National UK
 * numbers (for the default country), "+" and "00" international ones with spaces, dashes, brackets and "(0)", and
 * JS numbers (international without the "+").
 */
export function phoneOf(n: number): string | number {
	const six = String(100_000 + (n % 900_000));
	const four = String(1_000 + (n % 9_000));
	switch (n % 6) {
		case 0:
			return `+1 (212) ${200 + (n % 800)}-${four}`;
		case 1:
			return `07400 ${six}`;
		case 2:
			return `0044 20 7${six.slice(0, 3)} ${four}`;
		case 3:
			return `+49 (0)30 ${six}${n % 10}`;
		case 4:
			return `+33 6 ${six.slice(0, 2)} ${six.slice(2, 4)} ${six.slice(4)} ${n % 10}${(n >> 3) % 10}`;
		default:
			return 447_400_000_000 + (n % 1_000_000);
	}
}
