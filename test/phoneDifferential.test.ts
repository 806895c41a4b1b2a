/**
 * phone.ts against the library: generated phones of every country (test/harness/phoneSamples.ts), each normalised by
 * phone.ts and by the reference (test/harness/phoneReference.ts: the code before phone.ts, which hands the digits
 * to libphonenumber-js's own parse and isValid(), plus extensions dropped by the library's own pattern). Both must
 * give the same E.164 number or the same reason, and the hash must be that number's.
 *
 * A new seed each run, printed; PHONE_DIFFERENTIAL_SEED=<seed> repeats a run, PHONE_DIFFERENTIAL_COUNT=<n> sizes it.
 */
import { digestHex } from '../nodes/shared/digest';
import { hashIdentifier } from '../nodes/shared/identifiers/hash';
import { normalisePhone } from '../nodes/shared/identifiers/phone';
import { referenceNormalisePhone } from './harness/phoneReference';
import { phoneSample, Random } from './harness/phoneSamples';

const SEED = Number(process.env.PHONE_DIFFERENTIAL_SEED ?? Math.floor(Math.random() * 0xffffffff));
const COUNT = Number(process.env.PHONE_DIFFERENTIAL_COUNT ?? 100_000);

describe('phones: phone.ts gives libphonenumber-js\'s answers', () => {
	it(`on ${COUNT.toLocaleString('en-US')} generated numbers (seed printed)`, () => {
		console.log(`phone differential: seed ${SEED} (PHONE_DIFFERENTIAL_SEED=${SEED} repeats this run), ${COUNT} numbers`);
		const random = new Random(SEED);
		const countries = new Set<string>();
		const outcomes = new Map<string, number>();
		const mismatches: string[] = [];
		let extensions = 0;
		for (let i = 0; i < COUNT; i++) {
			const { raw, defaultCountryCode, country } = phoneSample(random);
			const ours = normalisePhone(raw, defaultCountryCode);
			const reference = referenceNormalisePhone(raw, defaultCountryCode);
			countries.add(country);
			const outcome = reference.value !== undefined ? 'valid' : reference.reason;
			outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
			if (typeof raw === 'string' && /[a-z#~,;\uff41-\uff5a\u0430-\u044f]/i.test(raw) && reference.value !== undefined) extensions++;
			let same = ours.value === reference.value && ours.reason === reference.reason;
			if (same && reference.value !== undefined) {
				same = hashIdentifier('phone', raw, { defaultCountryCode }).hash === digestHex('sha256', reference.value);
			}
			if (!same && mismatches.length < 20) {
				mismatches.push(`#${i} ${JSON.stringify(raw)} (${JSON.stringify(defaultCountryCode)}): ours ${JSON.stringify(ours)}, library ${JSON.stringify(reference)}`);
			}
		}
		console.log(
			`phone differential: ${countries.size} countries; ${[...outcomes].map(([outcome, n]) => `${outcome}: ${n}`).join('; ')}; ` +
				`${extensions} valid with letters or signs (extensions)`,
		);
		expect(mismatches).toEqual([]);
		// The samples must exercise both answers and every country, or the comparison proves little.
		expect(countries.size).toBeGreaterThanOrEqual(200);
		expect(outcomes.get('valid') ?? 0).toBeGreaterThan(COUNT * 0.2);
		expect(COUNT - (outcomes.get('valid') ?? 0)).toBeGreaterThan(COUNT * 0.2);
		expect(extensions).toBeGreaterThan(COUNT * 0.01);
	});
});
