/**
 * Every country's telephone numbering plan, read from libphonenumber-js's "max" metadata (Google's libphonenumber
 * data; the package version is pinned, so the rules change only with a package update) and turned into ready
 * regular expressions the first time its calling code is used, then kept. phone.ts applies the plans.
 *
 * "max" describes each country's number types (fixed line, mobile, toll-free…) with their own patterns and
 * lengths, so a number that no type of its country uses is refused rather than hashed, "synced" and never matched.
 */
import maxMetadata from 'libphonenumber-js/metadata.max.json';

/** One kind of number in a plan (fixed line, mobile, …): its pattern and the lengths it comes in. */
export interface NumberType {
	pattern: RegExp;
	/** undefined: any length the pattern takes. */
	lengths: readonly number[] | undefined;
}

export interface NumberingPlan {
	/** ISO 3166 code; undefined for a non-geographic plan (800 freephone, 881 satellite…). */
	country: string | undefined;
	callingCode: string;
	/** Every plan of this calling code, its main country first, when several countries share it; else undefined. */
	sharedBy: readonly NumberingPlan[] | undefined;
	/** What every national number of the plan matches, whole. */
	nationalNumber: RegExp;
	/** The lengths a national number can have, ascending; undefined when the metadata gives none. */
	lengths: readonly number[] | undefined;
	/** The international call prefix ("00", "011", …) at the start of a number; undefined if none. */
	internationalPrefix: RegExp | undefined;
	/** The national (trunk) prefix, possibly with a carrier code, at the start of a national number. */
	nationalPrefix: RegExp | undefined;
	/** Where the national prefix rewrites the number instead of dropping (e.g. "$1" → area code + "$1"). */
	nationalPrefixRewrite: string | undefined;
	/** For a country sharing its calling code: how its national numbers begin. */
	leadingDigits: RegExp | undefined;
	/** The plan's number types; undefined when the metadata has none for it. */
	types: readonly NumberType[] | undefined;
}

/**
 * The metadata's layout (libphonenumber-js metadata version 4): each plan is an array whose slots hold the
 * calling code, patterns and lengths; 0 or a missing slot means "none".
 */
type PlanJson = unknown[];
interface MetadataJson {
	version: number;
	country_calling_codes: Record<string, string[]>;
	countries: Record<string, PlanJson>;
	nonGeographic?: Record<string, PlanJson>;
}
const SLOT = {
	callingCode: 0,
	internationalPrefix: 1,
	nationalNumber: 2,
	lengths: 3,
	nationalPrefix: 5,
	nationalPrefixForParsing: 7,
	nationalPrefixRewrite: 8,
	leadingDigits: 10,
	types: 11,
} as const;
/** Fixed line, mobile, toll-free, premium rate, personal, voicemail, UAN, pager, VoIP, shared cost. */
const TYPE_SLOTS = 10;

const METADATA = maxMetadata as unknown as MetadataJson;
if (METADATA.version !== 4) {
	// The slots above follow version 4; a package update that changes them must not silently misread every plan.
	throw new Error(`libphonenumber-js metadata version ${METADATA.version} is not the version 4 layout this package reads`);
}

/** The countries of each calling code (main first), or [] for a non-geographic one; indexed by the code's value. */
const COUNTRIES_BY_CODE: Array<readonly string[] | undefined> = [];
for (const [code, countries] of Object.entries(METADATA.country_calling_codes)) {
	// Non-geographic codes may be listed with the pseudo-country "001"; their plans are in `nonGeographic`.
	COUNTRIES_BY_CODE[Number(code)] = countries.length === 1 && countries[0].length === 3 ? [] : countries;
}
for (const code of Object.keys(METADATA.nonGeographic ?? {})) COUNTRIES_BY_CODE[Number(code)] ??= [];

/** Compiled plans by calling code value (the main country's, or the non-geographic plan) and by country. */
const plansByCode: Array<NumberingPlan | undefined> = [];
const plansByCountry = new Map<string, NumberingPlan>();

/**
 * The plan a calling code stands for on its own, its main country's or its non-geographic one; undefined when no
 * country or service uses the code. Calling codes never begin with 0, so a code's value (1–999) names it.
 */
export function planOfCallingCode(code: number): NumberingPlan | undefined {
	const plan = plansByCode[code];
	if (plan !== undefined || COUNTRIES_BY_CODE[code] === undefined) return plan;
	compileCallingCode(code);
	return plansByCode[code];
}

/** A country's plan by ISO 3166 code ("GB"); undefined when the metadata has no such country. */
export function planOfCountry(iso: string): NumberingPlan | undefined {
	const plan = plansByCountry.get(iso);
	if (plan !== undefined || !Object.prototype.hasOwnProperty.call(METADATA.countries, iso)) return plan;
	compileCallingCode(Number(METADATA.countries[iso][SLOT.callingCode]));
	return plansByCountry.get(iso);
}

/** The main country of a calling code ("1" → US); undefined for a non-geographic or unused code. */
export function mainCountryOf(code: number): string | undefined {
	return COUNTRIES_BY_CODE[code]?.[0];
}

/** All the plans of one calling code at once: the countries sharing it point at each other. */
function compileCallingCode(code: number): void {
	const countries = COUNTRIES_BY_CODE[code] ?? [];
	if (countries.length === 0) {
		const json = METADATA.nonGeographic?.[String(code)];
		if (json !== undefined) plansByCode[code] = compilePlan(json, undefined);
		return;
	}
	const plans = countries.map((iso) => compilePlan(METADATA.countries[iso], iso));
	if (plans.length > 1) for (const plan of plans) plan.sharedBy = plans;
	plans.forEach((plan, i) => plansByCountry.set(countries[i], plan));
	plansByCode[code] = plans[0];
}

function compilePlan(json: PlanJson, country: string | undefined): NumberingPlan {
	const lengths = lengthsIn(json[SLOT.lengths]);
	const typesJson = json[SLOT.types];
	let types: NumberType[] | undefined;
	// A plan whose metadata lists no types at all is checked on its national pattern alone (phone.ts).
	if (Array.isArray(typesJson) && typesJson.length > 0) {
		types = [];
		for (let slot = 0; slot < Math.min(TYPE_SLOTS, typesJson.length); slot++) {
			const type = typesJson[slot];
			// A type the plan lacks is a 0 or an empty pattern.
			if (!Array.isArray(type) || !textIn(type[0])) continue;
			types.push({ pattern: whole(type[0] as string), lengths: lengthsIn(type[1]) ?? lengths });
		}
	}
	return {
		country,
		callingCode: String(json[SLOT.callingCode]),
		sharedBy: undefined,
		nationalNumber: whole(String(json[SLOT.nationalNumber])),
		lengths,
		internationalPrefix: atStart(textIn(json[SLOT.internationalPrefix])),
		nationalPrefix: atStart(textIn(json[SLOT.nationalPrefixForParsing]) ?? textIn(json[SLOT.nationalPrefix])),
		nationalPrefixRewrite: textIn(json[SLOT.nationalPrefixRewrite]),
		leadingDigits: atStart(textIn(json[SLOT.leadingDigits])),
		types,
	};
}

function textIn(slot: unknown): string | undefined {
	return typeof slot === 'string' && slot !== '' ? slot : undefined;
}

function lengthsIn(slot: unknown): readonly number[] | undefined {
	return Array.isArray(slot) ? (slot as number[]) : undefined;
}

/** The pattern matching a whole string (the metadata's patterns are written unanchored). */
function whole(pattern: string): RegExp {
	return new RegExp(`^(?:${pattern})$`);
}

/** The pattern matching at the start of a string. */
function atStart(pattern: string | undefined): RegExp | undefined {
	return pattern === undefined ? undefined : new RegExp(`^(?:${pattern})`);
}
