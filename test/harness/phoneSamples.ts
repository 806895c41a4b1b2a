/**
 * Generated phones for the differential test: every country of libphonenumber-js's metadata and its non-geographic
 * codes, written the ways CRMs hold them (international with "+" or "00", national with or without the trunk
 * prefix, the calling code without "+", "(0)", the default country's international call prefix, JS numbers), with
 * punctuation, extensions and damage (digits added, dropped or changed, stray characters). Valid and invalid
 * numbers both come out: the national part is a real example number with its tail redrawn, or random digits of a
 * possible length. Seeded: the same seed gives the same samples.
 */
import examples from 'libphonenumber-js/examples.mobile.json';
import phoneMetadata from 'libphonenumber-js/metadata.max.json';

export interface PhoneSample {
	raw: unknown;
	defaultCountryCode: string;
	/** The country whose number was drawn (ISO code, or "+<code>" for a non-geographic one). */
	country: string;
}

interface Plan {
	callingCode: string;
	/** The international call prefix, when it is a plain string of digits. */
	idd?: string;
	trunk?: string;
	lengths: number[];
}

const metadata = phoneMetadata as unknown as {
	country_calling_codes: Record<string, string[]>;
	countries: Record<string, unknown[]>;
	nonGeographic: Record<string, unknown[]>;
};
const exampleNumbers = examples as unknown as Record<string, string | undefined>;

function planOf(json: unknown[]): Plan {
	const idd = typeof json[1] === 'string' && /^\d+$/.test(json[1]) ? json[1] : undefined;
	const trunk = typeof json[5] === 'string' && json[5] !== '' ? json[5] : undefined;
	return { callingCode: json[0] as string, idd, trunk, lengths: (json[3] as number[] | undefined) ?? [8, 9, 10] };
}

const COUNTRIES = Object.keys(metadata.countries).sort();
const PLANS = new Map<string, Plan>(COUNTRIES.map((iso) => [iso, planOf(metadata.countries[iso])]));
const NON_GEOGRAPHIC = Object.keys(metadata.nonGeographic).sort();
const NON_GEOGRAPHIC_PLANS = new Map<string, Plan>(NON_GEOGRAPHIC.map((code) => [code, planOf(metadata.nonGeographic[code])]));
/** Countries whose international call prefix is plain digits ("00", "011", "810"…): usable as a default country. */
const IDD_COUNTRIES = COUNTRIES.filter((iso) => PLANS.get(iso)!.idd !== undefined);

/** xorshift32: small, fast and reproducible from its seed. */
export class Random {
	private state: number;
	constructor(seed: number) {
		this.state = seed >>> 0 || 0x9e3779b9;
	}
	next(): number {
		let x = this.state;
		x ^= x << 13;
		x >>>= 0;
		x ^= x >>> 17;
		x ^= x << 5;
		x >>>= 0;
		this.state = x;
		return x / 0x100000000;
	}
	int(below: number): number {
		return Math.floor(this.next() * below);
	}
	pick<T>(items: readonly T[]): T {
		return items[this.int(items.length)];
	}
	chance(p: number): boolean {
		return this.next() < p;
	}
	digits(count: number): string {
		let text = '';
		for (let i = 0; i < count; i++) text += String(this.int(10));
		return text;
	}
}

const SEPARATORS = [' ', ' ', ' ', '-', '-', '.', '/', '', '', '  ', '\t', ' - '];
const EXTENSIONS = [
	' ext. 12', ' ext 123', 'ext.1', ' EXT: 4567', ' Ext 12#', ' extn 9', ' extension 55', ' extensión 7', ' anexo 3', ' доб. 21',
	' x12', ' X 9', 'x1234567890', ' #45', '#7', ' ~ 8', ' int 31', ' ｅｘｔ 5', ' ｘ12', ';ext=123', ';EXT=9', ',,123', ';45', ',6',
	', 7', ' -12#', '-123456#', ' 1234567#', ' ext. 123456789012345678901', ' x 1234567890', ' ext. ١٢', ' ext ', ' x', '#', ' ext. 12 ',
];
const JUNK = ['a', 'O', 'l', '*', '#', ',', ';', ':', '_', '\u00a0', '\u2013', '\uff11', '\u0661', '[', ']', '++', '+', 'e', '\u200b'];

/** The national part of a number of `plan`: an example with its tail redrawn, or random digits of a possible length. */
function nationalPart(random: Random, plan: Plan, example: string | undefined): string {
	if (example !== undefined && random.chance(0.7)) {
		const keep = Math.min(example.length, 1 + random.int(4));
		let length = example.length;
		if (random.chance(0.15)) length += random.pick([-2, -1, 1, 2]);
		return example.slice(0, keep) + random.digits(Math.max(0, length - keep));
	}
	const length = random.chance(0.9) ? random.pick(plan.lengths) : 1 + random.int(15);
	return String(1 + random.int(9)) + random.digits(Math.max(0, length - 1));
}

/** Digits grouped the way people write them: random group sizes and separators, sometimes brackets. */
function grouped(random: Random, digits: string): string {
	if (random.chance(0.25)) return digits;
	const separator = random.pick(SEPARATORS);
	let text = '';
	let at = 0;
	let first = true;
	while (at < digits.length) {
		const size = 2 + random.int(3);
		const group = digits.slice(at, at + size);
		text += (first ? '' : separator) + (first && random.chance(0.15) ? `(${group})` : group);
		at += size;
		first = false;
	}
	return text;
}

function damaged(random: Random, text: string): string {
	const at = random.int(text.length + 1);
	switch (random.int(5)) {
		case 0:
			return text.slice(0, at) + String(random.int(10)) + text.slice(at);
		case 1:
			return text.slice(0, at) + text.slice(at + 1);
		case 2:
			return text.slice(0, at) + random.pick(JUNK) + text.slice(at);
		case 3:
			return text + random.digits(1 + random.int(4));
		default:
			return text.slice(0, Math.max(1, text.length - 1 - random.int(5)));
	}
}

/** How the default country is given: ISO code in some case, or the calling code in the ways people type it. */
function optionFor(random: Random, iso: string): string {
	const callingCode = PLANS.get(iso)!.callingCode;
	switch (random.int(8)) {
		case 0:
			return iso.toLowerCase();
		case 1:
			return callingCode;
		case 2:
			return `+${callingCode}`;
		case 3:
			return `00${callingCode}`;
		case 4:
			return ` ${iso} `;
		default:
			return iso;
	}
}

const ODD_OPTIONS = ['', '', 'XX', 'Italy', '800', 'UK', 'uk', '999', '+ 44', '0'];

export function phoneSample(random: Random): PhoneSample {
	const nonGeographic = random.chance(0.03);
	const country = nonGeographic ? `+${random.pick(NON_GEOGRAPHIC)}` : random.pick(COUNTRIES);
	const plan = nonGeographic ? NON_GEOGRAPHIC_PLANS.get(country.slice(1))! : PLANS.get(country)!;
	const national = nationalPart(random, plan, nonGeographic ? undefined : exampleNumbers[country]);
	const { callingCode, trunk } = plan;
	// The default country: mostly the number's own, sometimes another sharing its calling code, another at random,
	// or an option that is no country at all.
	let defaultCountry = nonGeographic ? random.pick(COUNTRIES) : country;
	if (!nonGeographic && random.chance(0.1)) defaultCountry = random.pick(metadata.country_calling_codes[callingCode] ?? [country]);
	if (random.chance(0.1)) defaultCountry = random.pick(COUNTRIES);
	let option = random.chance(0.04) ? random.pick(ODD_OPTIONS) : optionFor(random, defaultCountry);

	let text: string;
	switch (random.int(10)) {
		case 0:
		case 1:
			text = `+${callingCode}${random.pick(['', ' ', '-', ' '])}${grouped(random, national)}`;
			break;
		case 2:
			text = `00${callingCode} ${grouped(random, national)}`;
			break;
		case 3:
			text = `+${callingCode} ${random.pick(['(0)', '(0) ', '0', `(${trunk ?? '0'})`])}${grouped(random, national)}`;
			break;
		case 4:
		case 5:
			text = `${trunk !== undefined && random.chance(0.8) ? trunk : ''}${grouped(random, national)}`;
			break;
		case 6:
			text = grouped(random, national);
			break;
		case 7:
			text = `${callingCode}${random.pick(['', ' '])}${grouped(random, national)}`;
			break;
		case 8: {
			// Dialled from another country through its international call prefix.
			const from = random.pick(IDD_COUNTRIES);
			option = optionFor(random, from);
			text = `${PLANS.get(from)!.idd} ${callingCode} ${grouped(random, national)}`;
			break;
		}
		default: {
			const digits = `${callingCode}${national}`;
			// Stored as a number: international without the "+", or a national number that lost its leading 0.
			if (random.chance(0.7) && digits.length <= 15) return { raw: Number(digits), defaultCountryCode: option, country };
			text = digits;
		}
	}
	if (random.chance(0.08)) text = `(${text.slice(0, 3)})${text.slice(3)}`;
	if (random.chance(0.12)) text += random.pick(EXTENSIONS);
	if (random.chance(0.15)) text = damaged(random, text);
	if (random.chance(0.05)) text = `${random.pick([' ', '\t', '  ', '\n'])}${text}${random.pick(['', ' ', '\r\n'])}`;
	return { raw: text, defaultCountryCode: option, country };
}
