import { digestHex } from '../digest';
import { hashAlgorithmFor, MATCH_FIELD_SPECS, type IdentifierOptions, type MatchField } from './fields';
import { isAsciiSpace, isEmpty, isHexCode, isHexOfLength, refused } from './normalise';

export type HashedIdentifier = { hash: string; reason?: undefined } | { hash?: undefined; reason: string };

/**
 * Normalise and hash one identifier. A value that already is a hash of the right kind (exactly 64 hex characters
 * for SHA-256, 32 for MD5, after trimming) passes through lower-cased, so pre-hashed data is never hashed twice;
 * a device ID written without dashes is recognised as a device ID, not as an MD5.
 */
export function hashIdentifier(field: MatchField, raw: unknown, options: IdentifierOptions = {}): HashedIdentifier {
	const hash = hashValue(field, raw, options);
	return hash !== undefined ? { hash } : { reason: refused.reason };
}

/** hashIdentifier without the result object: the hash, or undefined with the reason in `refused.reason`. */
function hashValue(field: MatchField, raw: unknown, options: IdentifierOptions): string | undefined {
	const spec = MATCH_FIELD_SPECS[field];
	const device = spec.isDevice;
	const algorithm = hashAlgorithmFor(field, options.deviceIdHash);
	// Trimming only shortens: a value shorter than a hash cannot be one (and is not looked at for nothing).
	if (typeof raw === 'string' && raw.length >= 32) {
		const hashLength = algorithm === 'md5' ? 32 : 64;
		const trimmed = trimmedHexCandidate(raw, device ? 32 : hashLength);
		if (trimmed !== undefined) {
			// IDFAs and GAIDs are version-4 UUIDs. Written without dashes they are 32 hex characters, like an MD5: such a
			// value is a raw device ID to hash, never a hash to pass through (about 1 MD5 in 64 looks like one and is
			// hashed again: a lost match, never a raw ID sent or stored).
			if (device && isDashlessUuidV4(trimmed)) raw = dashUuid(trimmed);
			else if (isHexOfLength(trimmed, hashLength)) return trimmed.toLowerCase();
		}
	}
	const value = spec.normalise(raw, options);
	return value === undefined ? undefined : digestHex(algorithm, value);
}

/**
 * `raw` trimmed, when the trimmed text could be a hash or a dashless device ID: `length` characters (or 64 for a
 * SHA-256 in a device slot) beginning and ending with hex. Emails, phones and dashed UUIDs fail on the length or
 * the first character without being copied.
 */
function trimmedHexCandidate(raw: string, length: number): string | undefined {
	let start = 0;
	let end = raw.length;
	while (start < end && isAsciiSpace(raw.charCodeAt(start))) start++;
	while (end > start && isAsciiSpace(raw.charCodeAt(end - 1))) end--;
	const first = raw.charCodeAt(start);
	const last = raw.charCodeAt(end - 1);
	if (first > 127 || last > 127) {
		// Unicode spaces around the value: leave the exact answer to trim().
		const trimmed = raw.trim();
		return trimmed.length === length || trimmed.length === 64 ? trimmed : undefined;
	}
	if ((end - start !== length && end - start !== 64) || !isHexCode(first) || !isHexCode(last)) return undefined;
	return start === 0 && end === raw.length ? raw : raw.slice(start, end);
}

function isDashlessUuidV4(value: string): boolean {
	if (!isHexOfLength(value, 32) || value[12] !== '4') return false;
	const variant = value[16].toLowerCase();
	return variant === '8' || variant === '9' || variant === 'a' || variant === 'b';
}

function dashUuid(hex: string): string {
	return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export interface UserIdentifiers {
	/** One hash per requested field, in the order of `fields`; undefined where the user has none. */
	ids: Array<string | undefined>;
	/** Why each provided-but-unusable field was rejected (empty fields are not listed). */
	problems: string[];
	/** Set when the user has no usable identifier at all: the user cannot be synced. */
	notSyncedReason?: string;
}

/**
 * Hash every requested field of one user. A user with no usable identifier gets a not-synced reason: the
 * problems of the fields it had, or "no identifier to match" when all were empty.
 */
export function hashUser(
	fields: MatchField[],
	values: unknown[],
	options: IdentifierOptions = {},
): UserIdentifiers {
	// Filled, not sparse: a hole would serialise as null instead of the {} TikTok expects for a missing slot.
	const ids: Array<string | undefined> = fields.length === 1 ? [undefined] : new Array(fields.length).fill(undefined);
	let problems: string[] = NO_PROBLEMS;
	let usable = 0;
	for (let i = 0; i < fields.length; i++) {
		const raw = values[i];
		if (isEmpty(raw)) continue;
		const hash = hashValue(fields[i], raw, options);
		if (hash !== undefined) {
			ids[i] = hash;
			usable++;
		} else {
			if (problems === NO_PROBLEMS) problems = [];
			problems.push(refused.reason);
		}
	}
	if (usable === 0) {
		const notSyncedReason = problems.length > 0 ? problems.join('; ') : `no identifier to match (${fields.join(', ')} all empty)`;
		return { ids, notSyncedReason, problems };
	}
	return { ids, problems };
}

/** The problems of every user without any: one shared, frozen empty list instead of a new one per user. */
const NO_PROBLEMS: string[] = Object.freeze([]) as unknown as string[];

/** A stable key for one user's hashed identifiers: two rows with the same hashes are the same user. */
export function dedupeKey(ids: Array<string | undefined>): string {
	if (ids.length === 1) return ids[0] ?? ''; // one field: the hash itself, no new string
	return ids.map((id) => id ?? '').join('|');
}

