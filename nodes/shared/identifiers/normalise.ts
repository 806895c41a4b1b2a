/**
 * Normalising user identifiers the way TikTok matches them, before hashing.
 *
 * Every function returns either `{ value }` (ready to hash) or `{ reason }` (why this value can never match).
 * Reasons never quote the raw value: they may end up in logs, outputs and workflow static data.
 */
export type Normalised = { value: string; reason?: undefined } | { value?: undefined; reason: string };

/**
 * - `tiktok`: TikTok's customer-file rules — trim, lowercase, drop a `+tag` and every dot from the local part.
 *   "Jane.Doe+ads@Example.com" and "janedoe@example.com" become the same user, as in TikTok's own matching.
 * - `basic`: trim and lowercase only — for addresses whose dots or plus tags are significant (most non-Gmail
 *   providers treat "j.doe" and "jdoe" as different people), at the price of fewer matches.
 */
export type EmailNormalisation = 'tiktok' | 'basic';

const MAX_EMAIL_LENGTH = 254;
const MAX_DEVICE_ID_LENGTH = 64;

/** The ASCII characters String.prototype.trim() removes: space, tab, line feed, vertical tab, form feed, return. */
export function isAsciiSpace(code: number): boolean {
	return code === 32 || (code >= 9 && code <= 13);
}

export function isEmpty(raw: unknown): boolean {
	if (typeof raw !== 'string') return raw === undefined || raw === null;
	// The same answer as raw.trim() === '' without the copy: a visible ASCII character means not empty and ASCII
	// spaces are skipped; anything else (Unicode spaces, controls) is left to trim() itself.
	for (let i = 0; i < raw.length; i++) {
		const code = raw.charCodeAt(i);
		if (code > 32 && code < 127) return false;
		if (!isAsciiSpace(code)) return raw.trim() === '';
	}
	return true;
}

/**
 * Why the last `emailValue` (or hash.ts's `hashValue`) call refused its value. The per-user path returns the
 * normalised text alone and leaves the reason here, rather than allocating a `{ value }` or `{ reason }` object for
 * every user; read it right after the call that returned undefined.
 */
export const refused = { reason: '' };

export function normaliseEmail(raw: unknown, mode: EmailNormalisation = 'tiktok'): Normalised {
	const value = emailValue(raw, mode);
	return value !== undefined ? { value } : { reason: refused.reason };
}

/** A normaliser's result as the hot path takes it: the value, or undefined with the reason in `refused`. */
export function valueOrRefused(normalised: Normalised): string | undefined {
	if (normalised.reason !== undefined) refused.reason = normalised.reason;
	return normalised.value;
}

/** Leaves `reason` in `refused` and returns undefined: `return refuse('…')` in a normaliser's hot path. */
export function refuse(reason: string): undefined {
	refused.reason = reason;
	return undefined;
}

/** normaliseEmail without the result object: the text to hash, or undefined with the reason in `refused`. */
export function emailValue(raw: unknown, mode: EmailNormalisation = 'tiktok'): string | undefined {
	if (isEmpty(raw)) return refuse('email is empty');
	if (typeof raw !== 'string') return refuse(`email is not text (got ${describeType(raw)})`);
	// trim() and toLowerCase() hand back the same string when they change nothing: no copy for tidy addresses.
	const email = raw.trim().toLowerCase();
	if (email.length > MAX_EMAIL_LENGTH) return refuse('email is longer than 254 characters');
	const at = email.indexOf('@');
	if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return refuse('email is not a valid address');
	if (!isPlausibleDomain(email, at + 1)) return refuse('email is not a valid address');
	// One pass over the local part checks its characters and finds its first "+" and first ".".
	let plus = -1;
	let dot = -1;
	for (let i = 0; i < at; i++) {
		const code = email.charCodeAt(i);
		if (code === 43) {
			if (plus === -1) plus = i;
		} else if (code === 46) {
			if (dot === -1) dot = i;
		} else if (!isLocalPartCode(code)) {
			return refuse('email is not a valid address');
		}
	}
	if (mode !== 'tiktok') return email;
	// TikTok's rules: the local part loses a +tag and every dot. The kept pieces are sliced straight out of `email`
	// and joined once, with the domain, instead of building the local part and then the address.
	const end = plus === -1 ? at : plus;
	if (dot === -1 || dot > end) {
		if (end === at) return email; // nothing to drop: the same text, already flat for the hash
		return end === 0 ? refuse('email is not a valid address') : email.slice(0, end) + email.slice(at);
	}
	let result = '';
	let from = 0;
	for (; dot !== -1 && dot < end; dot = email.indexOf('.', from)) {
		result += email.slice(from, dot);
		from = dot + 1;
	}
	result += email.slice(from, end);
	if (result.length === 0) return refuse('email is not a valid address');
	return result + email.slice(at);
}

function isLocalPartCode(code: number): boolean {
	// No spaces, control characters, quotes or brackets: what is left is what mail providers hand out.
	if (code <= 32 || code === 127 || code === 34 || code === 40 || code === 41 || code === 44 || code === 58 || code === 59 || code === 60 || code === 62 || code === 91 || code === 92 || code === 93) {
		return false;
	}
	// Nor Unicode controls, spaces or invisible/bidi marks: such an address would be hashed and "synced" but could
	// never match anyone.
	return code < 128 || !isForbiddenUnicode(code);
}

/** The domain is `email[start, email.length)`: a dot inside it (not first, not last), no "..", no leading "-". */
function isPlausibleDomain(email: string, start: number): boolean {
	const dot = email.lastIndexOf('.');
	if (dot <= start || dot === email.length - 1 || email.charCodeAt(start) === 45) return false;
	let previous = 0;
	for (let i = start; i < email.length; i++) {
		const code = email.charCodeAt(i);
		const ok =
			(code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45 || code === 46 || code > 127; // IDN labels
		if (!ok || (code > 127 && isForbiddenUnicode(code)) || (code === 46 && previous === 46)) return false;
		previous = code;
	}
	return true;
}

/** Unicode controls, spaces, zero-width and bidirectional marks cannot be part of a real address. */
function isForbiddenUnicode(code: number): boolean {
	return (
		(code >= 0x80 && code <= 0xa0) || // C1 controls and the no-break space
		code === 0x1680 ||
		(code >= 0x2000 && code <= 0x200f) || // Unicode spaces, zero-width and direction marks
		(code >= 0x2028 && code <= 0x202f) || // line/paragraph separators, bidi embeddings and overrides, narrow space
		(code >= 0x205f && code <= 0x206f) || // medium space, word joiner, invisible operators, bidi isolates
		code === 0x3000 ||
		code === 0xfeff
	);
}

/**
 * IDFA and GAID/AAID are UUIDs. TikTok asks for one consistent case: we trim and lowercase.
 * The all-zero ID is what devices send when the user limited ad tracking: it matches nobody.
 */
export function normaliseDeviceId(raw: unknown): Normalised {
	if (isEmpty(raw)) return { reason: 'device ID is empty' };
	if (typeof raw !== 'string') return { reason: `device ID is not text (got ${describeType(raw)})` };
	const id = raw.trim().toLowerCase();
	if (id.length > MAX_DEVICE_ID_LENGTH || !isUuid(id)) return { reason: 'device ID is not a UUID' };
	if (id === '00000000-0000-0000-0000-000000000000') return { reason: 'device ID is all zeros (ad tracking limited on the device)' };
	return { value: id };
}

function isUuid(id: string): boolean {
	if (id.length !== 36) return false;
	for (let i = 0; i < 36; i++) {
		const code = id.charCodeAt(i);
		if (i === 8 || i === 13 || i === 18 || i === 23) {
			if (code !== 45) return false;
		} else if (!isHexCode(code)) {
			return false;
		}
	}
	return true;
}

export function isHexCode(code: number): boolean {
	return (code >= 48 && code <= 57) || (code >= 97 && code <= 102) || (code >= 65 && code <= 70);
}

/** Anchored check: the whole trimmed value is exactly `length` hex characters. */
export function isHexOfLength(value: string, length: number): boolean {
	if (value.length !== length) return false;
	for (let i = 0; i < length; i++) if (!isHexCode(value.charCodeAt(i))) return false;
	return true;
}

export function describeType(raw: unknown): string {
	if (raw === null) return 'null';
	if (Array.isArray(raw)) return 'a list';
	return typeof raw === 'object' ? 'an object' : `a ${typeof raw}`;
}
