import { idTypeFor } from '../nodes/shared/identifiers/fields';
import { dedupeKey, hashIdentifier, hashUser } from '../nodes/shared/identifiers/hash';
import { normaliseDeviceId, normaliseEmail, normalisePhone } from '../nodes/shared/identifiers/normalise';

// Vectors computed outside this code with `printf '%s' VALUE | sha256sum` (and md5sum), plus the one in
// TikTok's API notes (sha256("testing@testing.com")).
const VECTORS = {
	'testing@testing.com': '584c4423c421df49955759498a71495aba49b8780eb9387dff333b6f0982c777',
	'janedoe@example.com': 'c4d25e9c90ff23e9145397bc6fbd5385ca5fbe78211222ccbecd0b369ebb19a6',
	'jane.doe+ads@example.com': 'edcd734b50394ce7a26ff7fe1408eeac189753375b54286c93049c72767a7b40',
	'+14155550123': '36a2cef4ff9bf7a1abd2a93359136b870393be4106e6c5d19b72ff564f9deca4',
	'+447700900123': 'a8acc3a90a7b4e4dc65e93db9240ed26523050ef754d63b75b5161de76781436',
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
	])('%p with default country %p becomes +14155550123', (input, country) => {
		expect(normalisePhone(input, country)).toEqual({ value: '+14155550123' });
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ hash: VECTORS['+14155550123'] });
	});

	it('drops the national trunk 0 before adding the country code', () => {
		expect(normalisePhone('07700 900123', '44')).toEqual({ value: '+447700900123' });
		expect(hashIdentifier('phone', '07700 900123', { defaultCountryCode: '+44' })).toEqual({ hash: VECTORS['+447700900123'] });
	});

	it.each([
		['4155550123', '', 'phone has no country code: write it as +<country><number> or set a Default Country Code'],
		['+1 415 CALL NOW', '', 'phone contains characters that are not digits'],
		['+12', '', 'phone cannot be made into a valid international (E.164) number'],
		['+1234567890123456', '', 'phone cannot be made into a valid international (E.164) number'],
		['', '1', 'phone is empty'],
		[true, '1', 'phone is not text or a number (got a boolean)'],
	])('refuses %p (country %p)', (input, country, reason) => {
		expect(hashIdentifier('phone', input, { defaultCountryCode: country })).toEqual({ reason });
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
