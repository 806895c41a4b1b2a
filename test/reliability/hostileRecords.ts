/**
 * 10,000 hostile input records, each with the outcome a correct node must give it. Expected hashes are computed
 * here with node:crypto from canonical forms written out by hand, not with the package's own normalisation, so a
 * normalisation bug cannot hide behind itself.
 */
import { createHash } from 'node:crypto';

import type { IDataObject } from 'n8n-workflow';

export type Expected =
	| { status: 'synced'; members: string[]; key: string; ignored?: string[] }
	| { status: 'not_synced'; reason: string };

export interface HostileRecord {
	json: IDataObject;
	expected: Expected;
	category: string;
}

const sha = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const pad = (n: number, width: number) => String(n).padStart(width, '0');
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');

const NO_ID = 'no identifier to match (email, phone, idfa, aaid all empty)';
const BAD_EMAIL = 'email is not a valid address';
const NOT_DIGITS = 'phone contains characters that are not digits';
const NOT_E164 = 'phone cannot be made into a valid international (E.164) number';
const NOT_IN_PLAN = "phone is not a valid number in its country's numbering plan";

/** Slot order of the nodes' id_schema for Fields to Match = email, phone, idfa, aaid. */
function synced(email?: string, phone?: string, idfa?: string, aaid?: string, ignored?: string[]): Expected {
	const slots = [
		email && `EMAIL_SHA256:${email}`,
		phone && `PHONE_SHA256:${phone}`,
		idfa && `IDFA_SHA256:${idfa}`,
		aaid && `AAID_SHA256:${aaid}`,
	];
	return {
		status: 'synced',
		members: slots.filter((slot): slot is string => !!slot),
		key: slots.map((slot) => slot ?? '').join('|'),
		...(ignored ? { ignored } : {}),
	};
}

const notSynced = (reason: string): Expected => ({ status: 'not_synced', reason });

/** A string of about `bytes` characters (shared, so 1 MB values cost memory once per distinct value). */
const MEGABYTE_EMAIL = 'm'.repeat(1_048_576) + '@example.com';
const MEGABYTE_PHONE = '5'.repeat(1_048_576);
const MEGABYTE_ID = 'f'.repeat(1_048_576);

/** n: the record's number (unique); k: its occurrence within its category (drives the variants). */
type Maker = (n: number, k: number, previous: HostileRecord | undefined) => { json: IDataObject; expected: Expected };

const CATEGORIES: Array<[string, Maker]> = [
	['plain email', (n) => ({ json: { email: `h${n}@example.com` }, expected: synced(sha(`h${n}@example.com`)) })],
	[
		'messy email (spaces, case, dots, +tag)',
		(n) => ({ json: { email: ` \tH.${n}+Promo@Example.COM\n` }, expected: synced(sha(`h${n}@example.com`)) }),
	],
	[
		'same user as the previous record, written differently',
		(n) => ({ json: { email: `H${n - 1}@EXAMPLE.COM` }, expected: synced(sha(`h${n - 1}@example.com`)) }),
	],
	['phone as a number (default country 1)', (n) => ({ json: { phone: 2125550000 + n }, expected: synced(undefined, sha(`+1${2125550000 + n}`)) })],
	[
		'phone, international with spaces',
		(n) => ({ json: { phone: `+44 20 7946 ${pad(n, 4)}` }, expected: synced(undefined, sha(`+44207946${pad(n, 4)}`)) }),
	],
	[
		'IDFA in upper case',
		(n) => {
			const id = `${hex(n, 8)}-abcd-4ef0-8123-${hex(n * 7, 12)}`;
			return { json: { idfa: id.toUpperCase() }, expected: synced(undefined, undefined, sha(id)) };
		},
	],
	[
		'GAID with spaces around',
		(n) => {
			const id = `${hex(n * 3, 8)}-1234-4567-89ab-${hex(n, 12)}`;
			return { json: { gaid: `  ${id} ` }, expected: synced(undefined, undefined, undefined, sha(id)) };
		},
	],
	[
		'email already hashed (upper case, padded)',
		(n) => {
			const hash = sha(`prehashed${n}@example.com`);
			return { json: { email: ` ${hash.toUpperCase()} ` }, expected: synced(hash) };
		},
	],
	[
		'hashed email with a raw phone',
		(n) => {
			const hash = sha(`mixed${n}@example.com`);
			return {
				json: { email: hash, phone: `+1 (646) 555-${pad(n, 4)}` },
				expected: synced(hash, sha(`+1646555${pad(n, 4)}`)),
			};
		},
	],
	['no fields at all', () => ({ json: { unrelated: 'x' }, expected: notSynced(NO_ID) })],
	['every field null', () => ({ json: { email: null, phone: null, idfa: null, gaid: null }, expected: notSynced(NO_ID) })],
	['email is a number', (n) => ({ json: { email: n }, expected: notSynced('email is not text (got a number)') })],
	['email is an object', (n) => ({ json: { email: { address: `o${n}@example.com` } }, expected: notSynced('email is not text (got an object)') })],
	['email is an array', (n) => ({ json: { email: [`a${n}@example.com`] }, expected: notSynced('email is not text (got a list)') })],
	[
		'email of 1 MB (or 300 characters)',
		(n, k) => ({
			json: { email: k < 5 ? MEGABYTE_EMAIL : `${'l'.repeat(300)}${n}@example.com` },
			expected: notSynced('email is longer than 254 characters'),
		}),
	],
	[
		'Unicode and right-to-left addresses',
		(n, k) => {
			const email = k % 2 === 0 ? `用户${n}@例子.中国` : `משתמש${n}@דוגמה.ישראל`;
			return { json: { email: `  ${email}` }, expected: synced(sha(email)) };
		},
	],
	[
		'control, invisible and bidi characters in an email',
		(n, k) => {
			const hostile = ['\u0000', '\u0007', '\u001b', '\u007f', '\u0085', '\u202e', '\u200b', '\u00a0', '\u2066', '\ufeff'];
			const char = hostile[k % hostile.length];
			const where = Math.floor(k / hostile.length) % 3;
			const email = where === 0 ? `c${char}${n}@example.com` : where === 1 ? `c${n}@exa${char}mple.com` : `c${n}${char}@example.com`;
			return { json: { email }, expected: notSynced(BAD_EMAIL) };
		},
	],
	[
		'invalid email addresses',
		(_n, k) => {
			const bad = ['plainaddress', 'a@b', '@example.com', 'x@@example.com', 'two words@example.com', 'dot@example.', 'x@-example.com', '.+tag@example.com', 'x@exa..mple.com', '"quoted"@example.com'];
			return { json: { email: bad[k % bad.length] }, expected: notSynced(BAD_EMAIL) };
		},
	],
	[
		'invalid phone numbers',
		(_n, k) => {
			const cases: Array<[unknown, string]> = [
				['12345', NOT_IN_PLAN], // five digits: no North American number
				['call me maybe', NOT_DIGITS],
				['+0123456789', NOT_E164],
				['\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669', NOT_DIGITS],
				[1e21, NOT_DIGITS],
				['9'.repeat(70), 'phone is too long to be a phone number'],
				['+1 415\u0000555 0100', NOT_DIGITS],
				[k < 40 ? MEGABYTE_PHONE : '4'.repeat(100), 'phone is too long to be a phone number'],
				['+1 415 555 0100 ext. seven', NOT_DIGITS], // a label without digits is no extension: letters
				['++14155550100', NOT_DIGITS],
			];
			const [phone, reason] = cases[k % cases.length];
			return { json: { phone } as IDataObject, expected: notSynced(reason) };
		},
	],
	[
		'invalid device IDs',
		(_n, k) => {
			const cases: Array<[unknown, string]> = [
				['not-a-uuid', 'device ID is not a UUID'],
				['00000000-0000-0000-0000-000000000000', 'device ID is all zeros (ad tracking limited on the device)'],
				[123, 'device ID is not text (got a number)'],
				[true, 'device ID is not text (got a boolean)'],
				[k < 40 ? MEGABYTE_ID : 'e'.repeat(500), 'device ID is not a UUID'],
				['6d92078a-8246-4ba4-ae5b-76104861e7d\u200b', 'device ID is not a UUID'],
			];
			const [idfa, reason] = cases[k % cases.length];
			return { json: { idfa } as IDataObject, expected: notSynced(reason) };
		},
	],
	[
		'every field the wrong type',
		() => ({
			json: { phone: { number: '+14155550100' }, idfa: ['6d92078a-8246-4ba4-ae5b-76104861e7d0'], gaid: false },
			expected: notSynced(
				'phone is not text or a number (got an object); device ID is not text (got a list); device ID is not text (got a boolean)',
			),
		}),
	],
	[
		'valid email with an invalid phone',
		(n) => ({
			json: { email: `withphone${n}@example.com`, phone: 'n/a' },
			expected: synced(sha(`withphone${n}@example.com`), undefined, undefined, undefined, [NOT_DIGITS]),
		}),
	],
	[
		'exact copy of the previous record',
		(_n, _k, previous) => ({ json: structuredClone((previous as HostileRecord).json), expected: (previous as HostileRecord).expected }),
	],
	[
		'a 32-hex string in the email field, a SHA-256 in the phone field',
		(n) => {
			const phoneHash = sha(`+1917555${pad(n, 4)}`);
			return {
				json: { email: hex(n, 32), phone: phoneHash.toUpperCase() },
				expected: synced(undefined, phoneHash, undefined, undefined, [BAD_EMAIL]),
			};
		},
	],
	['whitespace-only fields', () => ({ json: { email: ' \t\n ', phone: '   ', idfa: '' }, expected: notSynced(NO_ID) })],
];

export const HOSTILE_CATEGORY_COUNT = CATEGORIES.length;

/** `count` records cycling through the categories (record i is category i mod 25, numbered by i). */
export function hostileRecords(count: number): HostileRecord[] {
	const records: HostileRecord[] = [];
	for (let i = 0; i < count; i++) {
		const [category, make] = CATEGORIES[i % CATEGORIES.length];
		const { json, expected } = make(i, Math.floor(i / CATEGORIES.length), records[i - 1]);
		records.push({ json: { ...json, row: i }, expected, category });
	}
	return records;
}

/** What TikTok must hold afterwards, and how many distinct users it must have received. */
export function expectedAudience(records: HostileRecord[]): { members: Set<string>; distinctUsers: number; synced: number; notSynced: Record<string, number> } {
	const members = new Set<string>();
	const keys = new Set<string>();
	const notSyncedReasons: Record<string, number> = {};
	let syncedCount = 0;
	for (const { expected } of records) {
		if (expected.status === 'synced') {
			syncedCount++;
			keys.add(expected.key);
			for (const member of expected.members) members.add(member);
		} else {
			notSyncedReasons[expected.reason] = (notSyncedReasons[expected.reason] ?? 0) + 1;
		}
	}
	return { members, distinctUsers: keys.size, synced: syncedCount, notSynced: notSyncedReasons };
}
