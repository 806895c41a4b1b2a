import { idTypeFor } from '../nodes/shared/identifiers/fields';
import { dedupeKey, hashIdentifier, hashUser } from '../nodes/shared/identifiers/hash';
import { normaliseDeviceId, normaliseEmail } from '../nodes/shared/identifiers/normalise';
import { normalisePhone } from '../nodes/shared/identifiers/phone';

// Vectors computed outside this code with `printf '%s' VALUE | sha256sum` (and md5sum), plus the one in
// TikTok's API notes (sha256("testing@testing.com")).
const VECTORS = {
	'testing@testing.com': '584c4423c421df49955759498a71495aba49b8780eb9387dff333b6f0982c777',
	'janedoe@example.com': 'c4d25e9c90ff23e9145397bc6fbd5385ca5fbe78211222ccbecd0b369ebb19a6',
	'jane.doe+ads@example.com': 'edcd734b50394ce7a26ff7fe1408eeac189753375b54286c93049c72767a7b40',
	'+14155550123': '36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4',
	'6d92078a-8246-4ba4-ae5b-76104861e7dc': '31b806b4deec8c4cb1ffb18b9ab4ee1fa82a2b30e1f47902f04d03f5db023376',
};
const IDFA_MD5 = '0c2074fb86930fc4a2a7bb791240a7d3';

describe('email', () => {
	it('hashes the documented vector', () => {
		expect(hashIdentifier('email', 'testing@testing.com')).toEqual({ hash: VECTORS['testing@testing.com'] });
	});

	it('applies TikTok customer-file rules by default: trim, lowercase, drop +tag and dots in the local part', () => {
		expect(normaliseEmail('  Jane.Doe+ads@Example.COM ')).toEqual({ value: 'janedoe@example.com' });
		expect(hashIdentifier('email', '  Jane.Doe+ads@Example.COM ')).toEqual({ hash: VECTORS['janedoe@example.com'] });
	});

	it('keeps dots and tags with "trim and lowercase only", and dots in the domain in both modes', () => {
		expect(normaliseEmail(' Jane.Doe+ads@Example.com', 'basic')).toEqual({ value: 'jane.doe+ads@example.com' });
		expect(hashIdentifier('email', 'JANE.DOE+ads@example.com', { emailNormalisation: 'basic' })).toEqual({
			hash: VECTORS['jane.doe+ads@example.com'],
		});
		expect(normaliseEmail('a.b@mail.example.co.uk')).toEqual({ value: 'ab@mail.example.co.uk' });
	});

	it.each([
		['', 'email is empty'],
		['   ', 'email is empty'],
		[null, 'email is empty'],
		['not-an-email', 'email is not a valid address'],
		['two@@example.com', 'email is not a valid address'],
		['a@b@example.com', 'email is not a valid address'],
		['jane@localhost', 'email is not a valid address'],
		['jane doe@example.com', 'email is not a valid address'],
		['+tag@example.com', 'email is not a valid address'],
		['jane@exa\u202emple.com', 'email is not a valid address'],
		[`${'a'.repeat(300)}@example.com`, 'email is longer than 254 characters'],
		[42, 'email is not text (got a number)'],
		[{ email: 'x@example.com' }, 'email is not text (got an object)'],
		[['x@example.com'], 'email is not text (got a list)'],
	])('refuses %p with a reason', (input, reason) => {
		expect(hashIdentifier('email', input)).toEqual({ reason });
	});

	it('never quotes the raw value in a reason', () => {
		const result = hashIdentifier('email', 'secret.person@@example.com');
		expect(result.reason).toBeDefined();
		expect(result.reason).not.toContain('secret');
	});
});

describe('phone', () => {
	it.each([
		['+1 (415) 555-0123', ''],
		['+14155550123', ''],
		['0014155550123', ''],
		['415-555-0123', '1'],
		['14155550123', '1'],
		[14155550123, '1'],
		['(415) 555 0123', 'US'],
	])('%p with default country %p becomes +14155550123', (input, country) => {
		expect(normalisePhone(input, country)).toEqual({ value: '+14155550123' });
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ hash: VECTORS['+14155550123'] });
	});

	// Written by hand from each country's numbering plan (national trunk prefix, area codes, mobile ranges), and
	// hashed outside this code with `printf %s '+39...' | sha256sum`.
	it.each([
		// Italy: no trunk prefix, the 0 of Rome's area code is part of the number.
		['06 1234 5678', '39', '+390612345678', '37b702607839d6dc5fc81d95b52e550e336413bf7ae2e04cafeca79f066ea44b'],
		// Russia: trunk prefix 8.
		['8 912 345-67-89', '7', '+79123456789', '694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63'],
		// Kazakhstan shares +7 (main country Russia) and its 8 trunk prefix.
		['8 701 123 4567', '7', '+77011234567', 'c87ea5d396b7f3244ee926b250483c2eb3e5345c14eb18eaa874ed2edbf903af'],
		// Germany: trunk 0, area code 491 (Leer), which begins like the country code 49.
		['0491 12345678', '49', '+4949112345678', 'e11e1e98bd7944382d16593948235bb5c68eed423aaed0a0a154bf535df3a78b'],
		// United Kingdom: trunk 0; London 20, a mobile in 74.
		['020 7946 0958', '44', '+442079460958', 'f0bf0228144d9fe2bdf1da2d8ca698f17bf1410ee688b075c27062e47b6f0b6d'],
		['07400 123456', 'GB', '+447400123456', '42665f0be57cc01155844c5bf6ed208c2a32f8da144a949a2f7b69f007810eb6'],
		// Canada shares +1 (main country the US): a Vancouver number.
		['(604) 555-0123', '1', '+16045550123', '2b031c0f0b65896ab2837bd5b439265feba4ebc9f7a80c838ccdea2ec137cec0'],
		// France: trunk 0, mobiles in 6.
		['06 12 34 56 78', '33', '+33612345678', '42d573cfc315801d4cd8eddd5416b416a0bf298b9b9e12d6b07442c91db42bd8'],
		// Japan: trunk 0, mobiles 090 with 8 more digits.
		['090-1234-5678', '81', '+819012345678', '3d06a39d40790f11761295e053029378ae28c4b4f6f301693005e079f3d4ca64'],
		// Australia: trunk 0, mobiles in 4.
		['0412 345 678', 'AU', '+61412345678', 'bc65da54a3ddbacfdc93a0400f0a2d78e41c2180c8255015e9616facfe56f58a'],
		// Spain: no trunk prefix.
		['612 34 56 78', '+34', '+34612345678', '1e41ef79cb1baa05fa88e837a70de6f6ae248454bc8dae474312c0baebe8c7a5'],
		// Brazil: area code 11 (São Paulo), nine-digit mobiles beginning with 9.
		['(11) 91234-5678', '55', '+5511912345678', '195563c1d879cb1564e2cdd6d89363ecb1f091ac0eeac094760f06139eae6077'],
		// India: trunk 0, ten-digit mobiles.
		['098765 43210', '91', '+919876543210', 'f3a47ce5ce3d4ca8ad15225a245b2759022f79489f5c62719b8c9490f7aab90e'],
		// China: eleven-digit mobiles, no trunk prefix for them.
		['138 0013 8000', '86', '+8613800138000', 'ec61f3c620a98bdead8c1f1f0ae747abd1b62a0c2dba4fd4bc22cf0d1d8653e5'],
		// Netherlands: trunk 0, mobiles 06.
		['06-12345678', 'nl', '+31612345678', 'fab7be8a931d1088a82f6acf9e468aaf6a3accc07d5112ee5d6fca93281e1583'],
	])('national %p with default country %p is %p', (input, country, e164, hash) => {
		expect(normalisePhone(input, country)).toEqual({ value: e164 });
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ hash });
	});

	it.each([
		['+44 (0)20 7946 0958', '+442079460958'],
		['0044 (0)20 7946 0958', '+442079460958'],
		['+33 (0)6 12 34 56 78', '+33612345678'],
		['+81 (0)90-1234-5678', '+819012345678'],
		// Italy has no trunk prefix: its numbers keep their 0 after +39.
		['+39 06 1234 5678', '+390612345678'],
		['+49 491 12345678', '+4949112345678'],
	])('international %p drops a "(0)" trunk prefix only where the country has one: %p', (input, e164) => {
		expect(normalisePhone(input, '')).toEqual({ value: e164 });
		// The default country does not apply to numbers that carry their own.
		expect(normalisePhone(input, '1')).toEqual({ value: e164 });
	});

	it('takes the default country as an ISO code or a calling code, in the ways people type them', () => {
		for (const country of ['IT', 'it', ' IT ', '39', '+39', '0039', '+ 39']) {
			expect(normalisePhone('06 1234 5678', country)).toEqual({ value: '+390612345678' });
		}
		expect(normalisePhone('020 7946 0958', 'UK')).toEqual({ value: '+442079460958' });
	});

	it('reads a national number that already begins with the country code as such', () => {
		expect(normalisePhone('44 20 7946 0958', '44')).toEqual({ value: '+442079460958' });
		expect(normalisePhone(447400123456, '44')).toEqual({ value: '+447400123456' });
	});

	it.each([
		['4155550123', '', 'phone has no country code: write it as +<country><number> or set a Default Country Code'],
		['06 1234 5678', 'Italy', 'phone has no country code and the Default Country Code is neither an ISO country code (e.g. IT) nor a calling code (e.g. 39)'],
		['06 1234 5678', 'XX', 'phone has no country code and the Default Country Code is neither an ISO country code (e.g. IT) nor a calling code (e.g. 39)'],
		// 800 is a calling code of no country (international freephone).
		['06 1234 5678', '800', 'phone has no country code and the Default Country Code is neither an ISO country code (e.g. IT) nor a calling code (e.g. 39)'],
		['+1 415 CALL NOW', '', 'phone contains characters that are not digits'],
		['+1 415 CALL ext. 4', '', 'phone contains characters that are not digits'],
		['ext. 4', '1', 'phone contains characters that are not digits'],
		['+1 415 555 0123 x', '', 'phone contains characters that are not digits'],
		['+12', '', 'phone cannot be made into a valid international (E.164) number'],
		['0000000', '44', 'phone cannot be made into a valid international (E.164) number'],
		['', '1', 'phone is empty'],
		[true, '1', 'phone is not text or a number (got a boolean)'],
	])('refuses %p (country %p)', (input, country, reason) => {
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ reason });
	});

	it.each([
		['+1 415 555 0123 ext. 4', ''],
		['+1 (415) 555-0123 x12', ''],
		['415-555-0123 #4567', 'US'],
		['415.555.0123 EXT:12 ', '1'],
		['+1 415 555 0123, ext 7', ''],
		['+1 415 555 0123;ext=99', ''],
		['415 555 0123,,12', 'US'],
		['415-555-0123-910#', '1'],
		['+1 415 555 0123 extension 12', ''],
	])('drops the extension of %p (country %p): the number without it is the one that matches', (input, country) => {
		expect(normalisePhone(input, country)).toEqual({ value: '+14155550123' });
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ hash: VECTORS['+14155550123'] });
	});

	// Each of these has a plausible length but breaks its country's plan; a "lengths only" check passes most.
	it.each([
		['+1 (415) 055-0123', ''], // North American exchanges never begin with 0
		['+55 11 8123-4567', ''], // São Paulo: an eight-digit number beginning with 8 is a mobile from before the ninth digit, no longer valid
		['+55 11 81234-5678', ''], // nine-digit mobiles must begin with 9
		['+81 90 1234 567', ''], // Japanese 090 mobiles have 8 more digits
		['+86 123 4567 8901', ''], // Chinese eleven-digit numbers begin with 1[3-9]
		['07700 900123', '44'], // Ofcom's range reserved for drama: never a real line
		['+7 000 123-45-67', ''],
		['+1234567890123456', ''], // 16 digits: longer than E.164 allows
	])('refuses %p, which cannot be a valid number, without quoting it', (input, country) => {
		const result = hashIdentifier('phone', input, { defaultCountryCode: country });
		expect(result.hash).toBeUndefined();
		expect(result.reason).toMatch(/^phone (is not a valid number in its country's numbering plan|cannot be made into a valid international \(E\.164\) number)$/);
		const user = hashUser(['phone'], [input], { defaultCountryCode: country });
		expect(user.ids).toEqual([undefined]);
		expect(user.notSyncedReason).toBe(result.reason);
		const digits = String(input).replace(/[^0-9]/g, '');
		expect(user.notSyncedReason).not.toContain(digits.slice(-6));
	});

	it('the same user written nationally and internationally gets one dedupe key', () => {
		const national = hashUser(['phone'], ['8 (912) 345-67-89'], { defaultCountryCode: 'RU' });
		const international = hashUser(['phone'], ['+7 912 345 67 89'], { defaultCountryCode: '44' });
		expect(dedupeKey(national.ids)).toBe('694e8de862e4f3198b67f7a4aa9f4dfb123c5b78b0a72460ce882c405b111e63');
		expect(dedupeKey(international.ids)).toBe(dedupeKey(national.ids));
	});
});

describe('device IDs', () => {
	it('lowercases and trims, then hashes with SHA-256 or MD5', () => {
		expect(normaliseDeviceId(' 6D92078A-8246-4BA4-AE5B-76104861E7DC ')).toEqual({ value: '6d92078a-8246-4ba4-ae5b-76104861e7dc' });
		expect(hashIdentifier('idfa', '6D92078A-8246-4BA4-AE5B-76104861E7DC')).toEqual({
			hash: VECTORS['6d92078a-8246-4ba4-ae5b-76104861e7dc'],
		});
		expect(hashIdentifier('aaid', '6d92078a-8246-4ba4-ae5b-76104861e7dc', { deviceIdHash: 'md5' })).toEqual({ hash: IDFA_MD5 });
	});

	it('refuses non-UUIDs and the all-zero ID of devices that limit ad tracking', () => {
		expect(hashIdentifier('idfa', 'not-a-uuid')).toEqual({ reason: 'device ID is not a UUID' });
		expect(hashIdentifier('aaid', '00000000-0000-0000-0000-000000000000')).toEqual({
			reason: 'device ID is all zeros (ad tracking limited on the device)',
		});
	});

	it('maps fields to TikTok id types', () => {
		expect(idTypeFor('email')).toBe('EMAIL_SHA256');
		expect(idTypeFor('phone', 'md5')).toBe('PHONE_SHA256');
		expect(idTypeFor('idfa')).toBe('IDFA_SHA256');
		expect(idTypeFor('idfa', 'md5')).toBe('IDFA_MD5');
		expect(idTypeFor('aaid')).toBe('AAID_SHA256');
		expect(idTypeFor('aaid', 'md5')).toBe('AAID_MD5');
	});
});

describe('already-hashed values', () => {
	it('pass through lower-cased instead of being hashed twice', () => {
		const upper = VECTORS['janedoe@example.com'].toUpperCase();
		expect(hashIdentifier('email', ` ${upper} `)).toEqual({ hash: VECTORS['janedoe@example.com'] });
		expect(hashIdentifier('phone', VECTORS['+14155550123'])).toEqual({ hash: VECTORS['+14155550123'] });
		expect(hashIdentifier('idfa', IDFA_MD5.toUpperCase(), { deviceIdHash: 'md5' })).toEqual({ hash: IDFA_MD5 });
	});

	it('are trimmed as String.prototype.trim does: Unicode spaces go, other control characters stay', () => {
		const hash = VECTORS['janedoe@example.com'];
		expect(hashIdentifier('email', `\u00a0\t${hash}\u2003\n`)).toEqual({ hash });
		expect(hashIdentifier('email', `\u0001${hash}`)).toEqual({ reason: 'email is not a valid address' });
		expect(hashIdentifier('phone', `${hash}\u0000`)).toEqual({ reason: 'phone is too long to be a phone number' });
	});

	it('are detected with anchored patterns only (no partial matches, no wrong lengths)', () => {
		const hash = VECTORS['janedoe@example.com'];
		// 65 hex characters, or a hash inside other text, is not a hash: it is an invalid email.
		expect(hashIdentifier('email', hash + 'a')).toEqual({ reason: 'email is not a valid address' });
		expect(hashIdentifier('email', `x${hash}`)).toEqual({ reason: 'email is not a valid address' });
		// An MD5 in a SHA-256 device slot is not taken as a hash, nor is it a UUID.
		expect(hashIdentifier('idfa', IDFA_MD5)).toEqual({ reason: 'device ID is not a UUID' });
	});
});

describe('hashUser', () => {
	it('fills the slots a user has, and explains a user that has none', () => {
		const user = hashUser(['email', 'phone', 'idfa'], ['jane.doe@example.com', '', 'garbage'], { defaultCountryCode: '1' });
		expect(user.ids).toEqual([VECTORS['janedoe@example.com'], undefined, undefined]);
		expect(user.notSyncedReason).toBeUndefined();
		expect(user.problems).toEqual(['device ID is not a UUID']);

		expect(hashUser(['email', 'phone'], [undefined, null]).notSyncedReason).toBe('no identifier to match (email, phone all empty)');
		expect(hashUser(['email', 'phone'], ['bad', 'worse']).notSyncedReason).toBe(
			'email is not a valid address; phone contains characters that are not digits',
		);
	});

	it('lists no problems for a user whose fields are all usable, and every problem otherwise', () => {
		expect(hashUser(['email'], ['jane@example.com']).problems).toEqual([]);
		expect(hashUser(['email', 'phone', 'idfa'], ['bad', 'worse', 'garbage']).problems).toEqual([
			'email is not a valid address',
			'phone contains characters that are not digits',
			'device ID is not a UUID',
		]);
	});

	it('gives the same dedupe key to the same person written differently', () => {
		const a = hashUser(['email'], ['Jane.Doe@example.com']);
		const b = hashUser(['email'], ['janedoe+x@EXAMPLE.com']);
		expect(dedupeKey(a.ids)).toBe(dedupeKey(b.ids));
		expect(dedupeKey(a.ids)).not.toBe(dedupeKey(hashUser(['email'], ['john@example.com']).ids));
	});
});

describe('device IDs written without dashes', () => {
	const dashless = '6D92078A82464BA4AE5B76104861E7DC';

	it('are hashed as the device ID they are, in both hash modes, never passed through as an MD5', () => {
		expect(hashIdentifier('idfa', dashless)).toEqual({ hash: VECTORS['6d92078a-8246-4ba4-ae5b-76104861e7dc'] });
		expect(hashIdentifier('aaid', ` ${dashless.toLowerCase()} `, { deviceIdHash: 'md5' })).toEqual({ hash: IDFA_MD5 });
	});

	it('an MD5 that is not shaped like a version-4 UUID still passes through', () => {
		expect(hashIdentifier('idfa', IDFA_MD5, { deviceIdHash: 'md5' })).toEqual({ hash: IDFA_MD5 });
	});
});
