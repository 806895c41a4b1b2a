/**
 * Phones to E.164 by each country's numbering plan (phonePlans.ts: libphonenumber-js's "max" metadata).
 *
 * The reading follows libphonenumber-js 1.13.16's parse + isValid() step by step, for the only input this package
 * hands it: digits, with or without a leading "+". It is written here, with each plan's patterns compiled once,
 * because the library rebuilds every pattern on every call (16 µs per phone). A differential test
 * (test/phoneDifferential.test.ts) holds the two to the same answers on generated numbers of every country.
 */
import { describeType, isAsciiSpace, isEmpty, refuse, refused, type Normalised } from './normalise';
import { mainCountryOf, planOfCallingCode, planOfCountry, type NumberingPlan } from './phonePlans';

const MAX_PHONE_TEXT_LENGTH = 64;
/** libphonenumber's bounds on a national (significant) number. */
const MIN_NATIONAL_LENGTH = 2;
const MAX_NATIONAL_LENGTH = 17;
const MAX_CALLING_CODE_LENGTH = 3;

const PHONE_REASONS = {
	empty: 'phone is empty',
	tooLong: 'phone is too long to be a phone number',
	notDigits: 'phone contains characters that are not digits',
	noCountry: 'phone has no country code: write it as +<country><number> or set a Default Country Code',
	badDefaultCountry:
		'phone has no country code and the Default Country Code is neither an ISO country code (e.g. IT) nor a calling code (e.g. 39)',
	notE164: 'phone cannot be made into a valid international (E.164) number',
	invalid: "phone is not a valid number in its country's numbering plan",
} as const;

/**
 * The country for national numbers, from the Default Country Code option: an ISO 3166 code ("IT", "it"; "UK" is
 * taken as GB) or a calling code ("39", "+39", "0039"). A calling code shared by several countries stands for its
 * main country in the metadata (1 → US, 7 → RU, 44 → GB, 39 → IT); the national numbers of the others sharing it
 * (Canada's, Kazakhstan's, Jersey's, the Vatican's) parse all the same, as they follow the same national plan.
 * `''` when the option is empty, `undefined` when it is not a country.
 */
export function defaultCountryFor(option: string): string | undefined {
	const text = option.trim();
	if (text === '') return '';
	if (/^[A-Za-z]{2}$/.test(text)) {
		const iso = text.toUpperCase() === 'UK' ? 'GB' : text.toUpperCase();
		return planOfCountry(iso) !== undefined ? iso : undefined;
	}
	const callingCode = /^(?:\+|00)?\s*([1-9][0-9]{0,2})$/.exec(text)?.[1];
	return callingCode === undefined ? undefined : mainCountryOf(Number(callingCode));
}

// The option is the same for every item of a run: resolve it to a plan once, not per phone.
let lastOption: string | undefined;
let lastPlan: NumberingPlan | '' | undefined;
function cachedDefaultPlan(option: string): NumberingPlan | '' | undefined {
	if (option !== lastOption) {
		const country = defaultCountryFor(option);
		lastPlan = country === '' || country === undefined ? country : planOfCountry(country);
		lastOption = option;
	}
	return lastPlan;
}

/**
 * Phones become E.164 with the "+" (`+14155550123`), as the Segment API asks, by each country's numbering plan:
 * - "+…" and "00…" are international already; a "(0)" after the country code ("+44 (0)20 7946 0958") is the
 *   national trunk prefix and is dropped where that country has one (not in Italy, whose numbers keep their 0).
 * - Otherwise the number is national, read with the default country: its trunk prefix goes ("8 912…" in Russia,
 *   "0491…" keeps its area code in Germany), and a number that already begins with that country's calling code
 *   is recognised as such where the country's plan says so.
 * - An extension after the number ("ext. 12", "x12", "#12", ",,12", "-12#", ";ext=12", … see EXTENSION) is
 *   dropped: the number without it is the one that matches.
 * - Numbers that cannot be valid in their country are refused; the reason never quotes them.
 * Only digits, one leading "+", spaces and - ( ) . / are accepted around the digits: letters are refused.
 */
export function normalisePhone(raw: unknown, defaultCountryCode = ''): Normalised {
	const value = phoneValue(raw, defaultCountryCode);
	return value !== undefined ? { value } : { reason: refused.reason };
}

/** normalisePhone without the result object: the E.164 number, or undefined with the reason in `refused`. */
export function phoneValue(raw: unknown, defaultCountryCode: string): string | undefined {
	if (isEmpty(raw)) return refuse(PHONE_REASONS.empty);
	const text = typeof raw === 'string' ? raw : asNumberText(raw);
	if (text === undefined) return refuse(`phone is not text or a number (got ${describeType(raw)})`);
	if (text.length > MAX_PHONE_TEXT_LENGTH) return refuse(PHONE_REASONS.tooLong);
	let digits = digitsIn(text, text.length);
	if (digits === undefined) {
		const end = numberEndBeforeExtension(text);
		if (end >= 0) digits = digitsIn(text, end);
		if (digits === undefined) return refuse(PHONE_REASONS.notDigits);
	}
	let international = scannedPlus;
	if (!international && digits.charCodeAt(0) === 48 && digits.charCodeAt(1) === 48) {
		international = true;
		digits = digits.slice(2);
	}
	let parsed: Parsed | undefined;
	if (international) {
		// libphonenumber needs three digits after a "+" to read anything.
		parsed = digits.length >= 3 ? parseInternational(digits) : undefined;
	} else {
		const plan = cachedDefaultPlan(defaultCountryCode);
		if (plan === '') return refuse(PHONE_REASONS.noCountry);
		if (plan === undefined) return refuse(PHONE_REASONS.badDefaultCountry);
		parsed = digits.length >= MIN_NATIONAL_LENGTH ? parseNational(digits, plan) : undefined;
	}
	if (parsed === undefined || parsed.nationalNumber.length < MIN_NATIONAL_LENGTH || parsed.nationalNumber.length > MAX_NATIONAL_LENGTH) {
		return refuse(PHONE_REASONS.notE164);
	}
	if (!isValidIn(parsed.plan, parsed.nationalNumber)) return refuse(PHONE_REASONS.invalid);
	return `+${parsed.callingCode}${parsed.nationalNumber}`;
}

/** A number (phones are often stored as numbers) as text; undefined for anything that is neither. */
function asNumberText(raw: unknown): string | undefined {
	if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
	if (typeof raw === 'bigint') return raw.toString();
	return undefined;
}

/** Whether the last digitsIn() met a leading "+" (a module variable rather than a result object per phone). */
let scannedPlus = false;

/**
 * The digits of `text` up to `end`, or undefined when it holds a character other than digits, one "+" before them,
 * ASCII spaces and - ( ) . /. Runs of digits are sliced, not copied one by one; a number written as bare digits
 * comes back as the same string.
 */
function digitsIn(text: string, end: number): string | undefined {
	scannedPlus = false;
	let digits = '';
	let run = -1;
	for (let i = 0; i < end; i++) {
		const code = text.charCodeAt(i);
		if (code >= 48 && code <= 57) {
			if (run === -1) run = i;
			continue;
		}
		if (run !== -1) {
			digits += text.slice(run, i);
			run = -1;
		}
		if (code === 43 && digits.length === 0 && !scannedPlus) scannedPlus = true;
		else if (!(isAsciiSpace(code) || code === 45 || code === 40 || code === 41 || code === 46 || code === 47)) return undefined;
	}
	if (run === -1) return digits;
	return run === 0 && end === text.length ? text : digits + text.slice(run, end);
}

/**
 * An extension at the end of a phone, in every form libphonenumber recognises (its digits may also be fullwidth or
 * Arabic-Indic; labels in any case):
 * - a word: "ext", "ext.", "extn", "extension", "extensión", "anexo", "доб", fullwidth "ｅｘｔ"; up to 20 digits;
 * - a sign or short word: "x", "#", "~", "int" (and their fullwidth forms); up to 9 digits;
 * - RFC 3966's ";ext=": up to 20 digits;
 * - the US "-123#" (dash or space, digits, "#"): up to 6 digits;
 * - auto-dialling ",," or ";" (up to 15 digits) and "," (up to 9).
 * A label may be followed by ":" or "." and by spaces, commas or dashes; a "#" may close the digits.
 */
const EXTENSION_DIGITS = '[0-9\\uFF10-\\uFF19\\u0660-\\u0669\\u06F0-\\u06F9]';
const AFTER_LABEL = '[:.\\uFF0E]?[ \\u00A0\\t,-]*';
const EXTENSION_FORMS: Array<{ before: string; label: string; maxDigits: number; end: '' | '#?' | '#' }> = [
	{ before: '', label: ';ext=', maxDigits: 20, end: '' },
	{
		before: '[ \\u00A0\\t,]*',
		label: `(?:e?xt(?:ensi(?:o\\u0301?|\\u00F3))?n?|\\uFF45?\\uFF58\\uFF54\\uFF4E?|\\u0434\\u043E\\u0431|anexo)${AFTER_LABEL}`,
		maxDigits: 20,
		end: '#?',
	},
	{ before: '[ \\u00A0\\t,]*', label: `(?:[x\\uFF58#\\uFF03~\\uFF5E]|int|\\uFF49\\uFF4E\\uFF54)${AFTER_LABEL}`, maxDigits: 9, end: '#?' },
	{ before: '[- ]+', label: '', maxDigits: 6, end: '#' },
	{ before: '[ \\u00A0\\t]*', label: `(?:,,|;)${AFTER_LABEL}`, maxDigits: 15, end: '#?' },
	{ before: '[ \\u00A0\\t]*', label: `,+${AFTER_LABEL}`, maxDigits: 9, end: '#?' },
];
const EXTENSION = new RegExp(
	`(?:${EXTENSION_FORMS.map((form) => `${form.before}${form.label}${EXTENSION_DIGITS}{1,${form.maxDigits}}${form.end}`).join('|')})$`,
	'i',
);

/**
 * Where the number ends when `text` closes with an extension (trailing spaces aside), else -1. Only after a
 * number: an extension with no digit before it is no phone at all.
 */
function numberEndBeforeExtension(text: string): number {
	let end = text.length;
	while (end > 0 && isAsciiSpace(text.charCodeAt(end - 1))) end--;
	const start = (end === text.length ? text : text.slice(0, end)).search(EXTENSION);
	if (start <= 0) return -1;
	for (let i = 0; i < start; i++) {
		const code = text.charCodeAt(i);
		if (code >= 48 && code <= 57) return start;
	}
	return -1;
}

/** A number read by a plan: E.164 is "+" + callingCode + nationalNumber, checked against `plan`. */
interface Parsed {
	callingCode: string;
	nationalNumber: string;
	plan: NumberingPlan;
}

/** `digits` came after a "+" (or an international call prefix): a calling code, then the national number. */
function parseInternational(digits: string): Parsed | undefined {
	// Calling codes never begin with 0, and none is the beginning of another: the first one found is the one.
	let code = 0;
	for (let length = 1; length <= MAX_CALLING_CODE_LENGTH && length <= digits.length; length++) {
		code = code * 10 + digits.charCodeAt(length - 1) - 48;
		if (code === 0) return undefined;
		const plan = planOfCallingCode(code);
		if (plan !== undefined) return parseAfterCallingCode(plan, digits.slice(length));
	}
	return undefined;
}

/** The national part that follows a calling code: read by the code's main plan, then the exact country's. */
function parseAfterCallingCode(plan: NumberingPlan, rest: string): Parsed | undefined {
	if (rest === '') return undefined;
	const nationalNumber = withoutNationalPrefix(rest, plan);
	return { callingCode: plan.callingCode, nationalNumber, plan: countryAmong(plan, nationalNumber) ?? plan };
}

/** `digits` written without a "+", read with the default country's plan. */
function parseNational(digits: string, plan: NumberingPlan): Parsed | undefined {
	// The country's international call prefix ("011" in the US): the rest is international. A prefix followed by a
	// 0 is not one (calling codes never begin with 0).
	const prefix = plan.internationalPrefix?.exec(digits);
	if (prefix) {
		const rest = digits.slice(prefix[0].length);
		if (rest !== '' && rest !== digits && rest.charCodeAt(0) !== 48) {
			// With no calling code after it, libphonenumber gives up rather than read the digits nationally.
			return parseInternational(rest);
		}
	}
	const { callingCode } = plan;
	if (digits.startsWith(callingCode)) {
		// The calling code written without its "+": taken as such when the number only makes sense that way (the
		// whole is no national number but the rest is), or when the whole is too long to be national. The rest is
		// then read as after a "+": by the code's main plan.
		const rest = digits.slice(callingCode.length);
		const whole = withoutNationalPrefix(digits, plan);
		if (
			(!plan.nationalNumber.test(whole) && plan.nationalNumber.test(withoutNationalPrefix(rest, plan))) ||
			isTooLong(whole.length, plan.lengths)
		) {
			return parseAfterCallingCode(plan.sharedBy?.[0] ?? plan, rest);
		}
	}
	const nationalNumber = withoutNationalPrefix(digits, plan);
	return { callingCode, nationalNumber, plan: countryAmong(plan, nationalNumber) ?? plan };
}

/**
 * `number` without its national (trunk) prefix and carrier code, by `plan`'s rules; unchanged when it has none, or
 * when dropping it would leave a number the plan cannot have (Russia's "8 800…" is a number beginning with 8, not
 * the trunk prefix 8 before "800…").
 */
function withoutNationalPrefix(number: string, plan: NumberingPlan): string {
	if (number === '' || plan.nationalPrefix === undefined) return number;
	const match = plan.nationalPrefix.exec(number);
	if (match === null) return number;
	const lastGroup = match.length - 1;
	const captured = lastGroup > 0 && Boolean(match[lastGroup]);
	const nationalNumber =
		plan.nationalPrefixRewrite !== undefined && captured
			? number.replace(plan.nationalPrefix, plan.nationalPrefixRewrite)
			: number.slice(match[0].length);
	if (nationalNumber === number) return number;
	if (plan.nationalNumber.test(number) && !plan.nationalNumber.test(nationalNumber)) return number;
	if (plan.lengths !== undefined) {
		const lengths = (countryAmong(plan, nationalNumber) ?? plan).lengths;
		if (!isPossibleLengthSoFar(nationalNumber.length, lengths)) return number;
	}
	return nationalNumber;
}

/** Not shorter than the plan's shortest number, and one of its lengths unless longer than all of them. */
function isPossibleLengthSoFar(length: number, lengths: readonly number[] | undefined): boolean {
	if (lengths === undefined || lengths[0] === length) return true;
	if (lengths[0] > length) return false;
	if (lengths[lengths.length - 1] < length) return true;
	return lengths.indexOf(length, 1) >= 0;
}

function isTooLong(length: number, lengths: readonly number[] | undefined): boolean {
	return lengths !== undefined && lengths[lengths.length - 1] < length;
}

/**
 * The plan of the country a national number belongs to among those sharing `plan`'s calling code: the only one,
 * else the first whose leading digits begin it (or, for countries without leading digits, whose number types it
 * fits). undefined when none fits, and for non-geographic plans.
 */
function countryAmong(plan: NumberingPlan, nationalNumber: string): NumberingPlan | undefined {
	const plans = plan.sharedBy;
	if (plans === undefined) return plan.country === undefined ? undefined : plan;
	for (const candidate of plans) {
		if (candidate.leadingDigits !== undefined) {
			if (nationalNumber !== '' && candidate.leadingDigits.test(nationalNumber)) return candidate;
		} else if (fitsAType(candidate, nationalNumber)) {
			return candidate;
		}
	}
	return undefined;
}

/** A valid number of the plan: one of its number types, or its national pattern where it lists no types. */
function isValidIn(plan: NumberingPlan, nationalNumber: string): boolean {
	return plan.types !== undefined ? fitsAType(plan, nationalNumber) : plan.nationalNumber.test(nationalNumber);
}

// The same plan and number are often asked again within one phone (while choosing the country, then for
// validity): the last answer is kept.
let lastTypePlan: NumberingPlan | undefined;
let lastTypeNumber = '';
let lastTypeFits = false;

function fitsAType(plan: NumberingPlan, nationalNumber: string): boolean {
	if (plan === lastTypePlan && nationalNumber === lastTypeNumber) return lastTypeFits;
	let fits = false;
	if (plan.types !== undefined && plan.nationalNumber.test(nationalNumber)) {
		const length = nationalNumber.length;
		for (const type of plan.types) {
			if ((type.lengths === undefined || type.lengths.includes(length)) && type.pattern.test(nationalNumber)) {
				fits = true;
				break;
			}
		}
	}
	lastTypePlan = plan;
	lastTypeNumber = nationalNumber;
	lastTypeFits = fits;
	return fits;
}
