/**
 * The reference for phones: the package's phone normalisation as it was before phone.ts (commit 5528b9a), which
 * hands the digits to libphonenumber-js itself (parsePhoneNumberFromString + isValid(), "max" metadata), plus the
 * one rule added since: an extension at the end, as the library's own extension pattern finds it, is dropped first.
 *
 * test/phoneDifferential.test.ts compares phone.ts with it on generated numbers, and the bench times both side by
 * side ("before" figures).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { isSupportedCountry, parsePhoneNumberFromString, type CountryCode, type MetadataJson, type PhoneNumber } from 'libphonenumber-js/core';
import phoneMetadata from 'libphonenumber-js/metadata.max.json';

import { describeType, isAsciiSpace, isEmpty, type Normalised } from '../../nodes/shared/identifiers/normalise';

const PHONE_METADATA: MetadataJson = phoneMetadata;
const CALLING_CODE_COUNTRIES = (phoneMetadata as unknown as { country_calling_codes: Record<string, string[]> }).country_calling_codes;

// The library does not export its extension finder; it is loaded from the package's own build by file path.
const requireHere = createRequire(__filename);
const libraryRoot = dirname(requireHere.resolve('libphonenumber-js/package.json'));
const extractExtension = (requireHere(join(libraryRoot, 'build/helpers/extension/extractExtension.js')) as {
	default: (number: string) => { number?: string; ext?: string } | undefined;
}).default;

const NO_COUNTRY = 'phone has no country code: write it as +<country><number> or set a Default Country Code';
const BAD_DEFAULT_COUNTRY =
	'phone has no country code and the Default Country Code is neither an ISO country code (e.g. IT) nor a calling code (e.g. 39)';

function asText(raw: unknown): string | undefined {
	if (typeof raw === 'string') return raw;
	if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
	if (typeof raw === 'bigint') return raw.toString();
	return undefined;
}

export function referenceDefaultCountryFor(option: string): CountryCode | '' | undefined {
	const text = option.trim();
	if (text === '') return '';
	if (/^[A-Za-z]{2}$/.test(text)) {
		const iso = text.toUpperCase() === 'UK' ? 'GB' : text.toUpperCase();
		return isSupportedCountry(iso as CountryCode, PHONE_METADATA) ? (iso as CountryCode) : undefined;
	}
	const callingCode = /^(?:\+|00)?\s*([1-9][0-9]{0,2})$/.exec(text)?.[1];
	const main = callingCode === undefined ? undefined : CALLING_CODE_COUNTRIES[callingCode]?.[0];
	return main === undefined ? undefined : (main as CountryCode);
}

let lastOption: string | undefined;
let lastCountry: CountryCode | '' | undefined;
function cachedDefaultCountry(option: string): CountryCode | '' | undefined {
	if (option !== lastOption) {
		lastCountry = referenceDefaultCountryFor(option);
		lastOption = option;
	}
	return lastCountry;
}

/**
 * The text without an extension at its end, by the library's pattern (after trailing ASCII spaces), when a digit
 * comes before it; otherwise the text unchanged.
 */
export function referenceWithoutExtension(text: string): string {
	const trimmed = text.replace(/[ \t\n\v\f\r]+$/, '');
	const found = extractExtension(trimmed);
	const number = found?.number;
	return found?.ext !== undefined && number !== undefined && /[0-9]/.test(number) ? number : text;
}

/** Today's rules before phone.ts (5528b9a's normalisePhone, verbatim), with the extension dropped first. */
export function referenceNormalisePhone(raw: unknown, defaultCountryCode = ''): Normalised {
	if (isEmpty(raw)) return { reason: 'phone is empty' };
	let text = asText(raw);
	if (text === undefined) return { reason: `phone is not text or a number (got ${describeType(raw)})` };
	if (text.length > 64) return { reason: 'phone is too long to be a phone number' };
	text = referenceWithoutExtension(text);
	return beforePhoneTs(text, defaultCountryCode);
}

/** 5528b9a's normalisePhone from its character loop on: letters (and so extensions) refused. */
export function referenceNormalisePhoneWithoutExtensions(raw: unknown, defaultCountryCode = ''): Normalised {
	if (isEmpty(raw)) return { reason: 'phone is empty' };
	const text = asText(raw);
	if (text === undefined) return { reason: `phone is not text or a number (got ${describeType(raw)})` };
	if (text.length > 64) return { reason: 'phone is too long to be a phone number' };
	return beforePhoneTs(text, defaultCountryCode);
}

function beforePhoneTs(text: string, defaultCountryCode: string): Normalised {
	let digits = '';
	let international = false;
	for (let i = 0; i < text.length; i++) {
		const code = text.charCodeAt(i);
		if (code >= 48 && code <= 57) {
			digits += text[i];
		} else if (code === 43 && digits.length === 0 && !international) {
			international = true;
		} else if (!(isAsciiSpace(code) || code === 45 || code === 40 || code === 41 || code === 46 || code === 47)) {
			return { reason: 'phone contains characters that are not digits' };
		}
	}
	if (!international && digits.startsWith('00')) {
		international = true;
		digits = digits.slice(2);
	}
	let phone: PhoneNumber | undefined;
	if (international) {
		phone = parsePhoneNumberFromString(`+${digits}`, { extract: false }, PHONE_METADATA);
	} else {
		const country = cachedDefaultCountry(defaultCountryCode);
		if (country === '') return { reason: NO_COUNTRY };
		if (country === undefined) return { reason: BAD_DEFAULT_COUNTRY };
		phone = parsePhoneNumberFromString(digits, { defaultCountry: country, extract: false }, PHONE_METADATA);
	}
	if (phone === undefined) return { reason: 'phone cannot be made into a valid international (E.164) number' };
	if (!phone.isValid()) return { reason: "phone is not a valid number in its country's numbering plan" };
	return { value: phone.number };
}
