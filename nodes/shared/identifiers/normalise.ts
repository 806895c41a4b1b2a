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

function isAsciiSpace(code: number): boolean {
	return code === 32 || (code >= 9 && code <= 13);
}

/** A string, or a number (phones are often stored as numbers), else undefined. */
function asText(raw: unknown): string | undefined {
	if (typeof raw === 'string') return raw;
	if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
	if (typeof raw === 'bigint') return raw.toString();
	return undefined;
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

/** `text` without its dots; slices instead of split('.').join(''), which costs several times more per email. */
function withoutDots(text: string): string {
	let dot = text.indexOf('.');
	if (dot === -1) return text;
	let result = '';
	let from = 0;
	for (; dot !== -1; dot = text.indexOf('.', from)) {
		result += text.slice(from, dot);
		from = dot + 1;
	}
	return result + text.slice(from);
}

export function normaliseEmail(raw: unknown, mode: EmailNormalisation = 'tiktok'): Normalised {
	if (isEmpty(raw)) return { reason: 'email is empty' };
	if (typeof raw !== 'string') return { reason: `email is not text (got ${describeType(raw)})` };
	const email = raw.trim().toLowerCase();
	if (email.length > MAX_EMAIL_LENGTH) return { reason: 'email is longer than 254 characters' };
	const at = email.indexOf('@');
	if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) {
		return { reason: 'email is not a valid address' };
	}
	let local = email.slice(0, at);
	const domain = email.slice(at + 1);
	if (!isPlausibleDomain(domain) || !isPlausibleLocalPart(local)) return { reason: 'email is not a valid address' };
	if (mode === 'tiktok') {
		const plus = local.indexOf('+');
		if (plus >= 0) local = local.slice(0, plus);
		local = withoutDots(local);
		if (local.length === 0) return { reason: 'email is not a valid address' };
	}
	// An unchanged local part gives back `email` itself: the same text, already flat for the hash.
	return { value: local.length === at ? email : `${local}@${domain}` };
}

function isPlausibleLocalPart(local: string): boolean {
	for (let i = 0; i < local.length; i++) {
		const code = local.charCodeAt(i);
		// No spaces, control characters, quotes or brackets: what is left is what mail providers hand out.
		if (code <= 32 || code === 127 || code === 34 || code === 40 || code === 41 || code === 44 || code === 58 || code === 59 || code === 60 || code === 62 || code === 91 || code === 92 || code === 93) {
			return false;
		}
		// Nor Unicode controls, spaces or invisible/bidi marks: such an address would be hashed and "synced" but
		// could never match anyone.
		if (code > 127 && isForbiddenUnicode(code)) return false;
	}
	return true;
}

function isPlausibleDomain(domain: string): boolean {
	const dot = domain.lastIndexOf('.');
	if (dot <= 0 || dot === domain.length - 1 || domain.startsWith('-') || domain.includes('..')) return false;
	for (let i = 0; i < domain.length; i++) {
		const code = domain.charCodeAt(i);
		const ok =
			(code >= 97 && code <= 122) || (code >= 48 && code <= 57) || code === 45 || code === 46 || code > 127; // IDN labels
		if (!ok || (code > 127 && isForbiddenUnicode(code))) return false;
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
 * Phones become E.164 with the "+" (`+14155550123`), as the Segment API asks.
 * - "+…" and "00…" are international already.
 * - Otherwise the default country code is needed: a national trunk "0" is dropped and the code put in front,
 *   unless the number already starts with that code and has at least 9 more digits (then it was written
 *   internationally without the "+").
 */
export function normalisePhone(raw: unknown, defaultCountryCode = ''): Normalised {
	if (isEmpty(raw)) return { reason: 'phone is empty' };
	const text = asText(raw);
	if (text === undefined) return { reason: `phone is not text or a number (got ${describeType(raw)})` };
	if (text.length > 64) return { reason: 'phone is too long to be a phone number' };
	let digits = '';
	let international = false;
	for (let i = 0; i < text.length; i++) {
		const char = text[i];
		const code = text.charCodeAt(i);
		if (code >= 48 && code <= 57) {
			digits += char;
		} else if (char === '+' && digits.length === 0 && !international) {
			international = true;
		} else if (isAsciiSpace(code) || char === '-' || char === '(' || char === ')' || char === '.' || char === '/') {
			continue;
		} else {
			return { reason: 'phone contains characters that are not digits' };
		}
	}
	if (!international && digits.startsWith('00')) {
		international = true;
		digits = digits.slice(2);
	}
	if (!international) {
		const country = defaultCountryCode.replace(/[^0-9]/g, '');
		if (!country) {
			return { reason: 'phone has no country code: write it as +<country><number> or set a Default Country Code' };
		}
		const national = digits.replace(/^0+/, '');
		digits = national.startsWith(country) && national.length - country.length >= 9 ? national : country + national;
	}
	if (digits.length < 8 || digits.length > 15 || digits[0] === '0') {
		return { reason: 'phone cannot be made into a valid international (E.164) number' };
	}
	return { value: `+${digits}` };
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
