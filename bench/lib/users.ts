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

/** The n-th distinct bench user's IDFA: a version-4 UUID, upper case on every other user (as iOS reports it). */
export function idfaOf(n: number): string {
	const hex = digestHex('md5', `bench-idfa-${n}`);
	const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
	return n % 2 === 0 ? uuid.toUpperCase() : uuid;
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

/**
 * The n-th distinct bench user's phone already in E.164 ("+14155550123"), from sixteen countries' mobile and fixed
 * ranges; every one a valid number.
 */
export function e164PhoneOf(n: number): string {
	const seven = String(1_000_000 + (n % 9_000_000));
	const eight = String(10_000_000 + (n % 90_000_000));
	switch (n % 16) {
		case 0:
			return `+1${[212, 415, 646, 312, 617][(n >> 4) % 5]}${200 + (n % 800)}${1_000 + (n % 9_000)}`;
		case 1:
			return `+447${400 + (n % 200)}${100_000 + (n % 900_000)}`;
		case 2:
			return `+49301${seven.slice(1)}`;
		case 3:
			return `+336${eight}`;
		case 4:
			return `+919${eight}${n % 10}`;
		case 5:
			return `+55119${eight}`;
		case 6:
			return `+8190${eight}`;
		case 7:
			return `+86138${eight}`;
		case 8:
			return `+614${eight}`;
		case 9:
			return `+7912${seven}`;
		case 10:
			return `+5255${eight}`;
		case 11:
			return `+346${eight}`;
		case 12:
			return `+393${eight}${n % 10}`;
		case 13:
			return `+4420${eight}`;
		case 14:
			return `+316${eight}`;
		default:
			return `+1604${200 + (n % 800)}${1_000 + (n % 9_000)}`;
	}
}

/**
 * The n-th distinct bench user's phone written nationally for the default country PHONE_DEFAULT_COUNTRY (the UK):
 * mobiles and London, Manchester, Birmingham and Edinburgh lines, with the punctuation people use; all valid.
 */
export function nationalPhoneOf(n: number): string {
	const three = 200 + (n % 600);
	const four = 1_000 + (n % 9_000);
	switch (n % 6) {
		case 0:
			return `07${400 + (n % 200)} ${100_000 + (n % 900_000)}`;
		case 1:
			return `(020) 7${100 + (n % 900)} ${four}`;
		case 2:
			return `0161 ${three} ${four}`;
		case 3:
			return `0121-${three}-${four}`;
		case 4:
			return `0131.${three}.${four}`;
		default:
			return `07${400 + (n % 200)}-${100 + (n % 900)}-${100 + (n % 900)}`;
	}
}
