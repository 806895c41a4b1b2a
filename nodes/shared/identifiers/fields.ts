import type { IdType } from '../transport/types';
import { emailValue, normaliseDeviceId, valueOrRefused, type EmailNormalisation } from './normalise';
import { phoneValue } from './phone';

/** The fields a user can be matched on, as the nodes present them. */
export type MatchField = 'email' | 'phone' | 'idfa' | 'aaid';
export type DeviceIdHash = 'sha256' | 'md5';

export interface IdentifierOptions {
	emailNormalisation?: EmailNormalisation;
	defaultCountryCode?: string;
	deviceIdHash?: DeviceIdHash;
}

interface MatchFieldSpec {
	/** What the node shows. */
	label: string;
	/** The field's value parameter defaults to this expression. */
	defaultExpression: string;
	hint: string;
	/** Device advertising IDs can be sent as SHA-256 or MD5 (Device ID Hash); email and phone always as SHA-256. */
	isDevice: boolean;
	idTypes: { sha256: IdType; md5?: IdType };
	/** The text to hash, or undefined with the reason in `refused.reason` (no result object per user: hot path). */
	normalise: (raw: unknown, options: IdentifierOptions) => string | undefined;
}

/**
 * The one table of identifier fields: what the UI shows, the id_schema type TikTok receives, and how a raw value is
 * normalised before hashing. The nodes' Fields to Match, the hashing and the request builder all read it.
 */
export const MATCH_FIELD_SPECS: Readonly<Record<MatchField, MatchFieldSpec>> = {
	email: {
		label: 'Email',
		defaultExpression: '={{ $json.email }}',
		hint: 'Plain or SHA-256-hashed email',
		isDevice: false,
		idTypes: { sha256: 'EMAIL_SHA256' },
		normalise: (raw, options) => emailValue(raw, options.emailNormalisation ?? 'tiktok'),
	},
	phone: {
		label: 'Phone',
		defaultExpression: '={{ $json.phone }}',
		hint: 'Plain (any format) or SHA-256 of the E.164 number',
		isDevice: false,
		idTypes: { sha256: 'PHONE_SHA256' },
		normalise: (raw, options) => phoneValue(raw, options.defaultCountryCode ?? ''),
	},
	idfa: {
		label: 'IDFA',
		defaultExpression: '={{ $json.idfa }}',
		hint: 'Apple advertising ID (UUID), or its hash',
		isDevice: true,
		idTypes: { sha256: 'IDFA_SHA256', md5: 'IDFA_MD5' },
		normalise: (raw) => valueOrRefused(normaliseDeviceId(raw)),
	},
	aaid: {
		label: 'GAID/AAID',
		defaultExpression: '={{ $json.gaid ?? $json.aaid }}',
		hint: 'Google/Android advertising ID (UUID), or its hash',
		isDevice: true,
		idTypes: { sha256: 'AAID_SHA256', md5: 'AAID_MD5' },
		normalise: (raw) => valueOrRefused(normaliseDeviceId(raw)),
	},
};

/** Every field, in the order the nodes list them and requests carry them. */
export const MATCH_FIELDS = Object.keys(MATCH_FIELD_SPECS) as MatchField[];

/** The hash a field's values get: MD5 only for device IDs when Device ID Hash says so. */
export function hashAlgorithmFor(field: MatchField, deviceIdHash: DeviceIdHash = 'sha256'): DeviceIdHash {
	return MATCH_FIELD_SPECS[field].isDevice ? deviceIdHash : 'sha256';
}

/** The id_schema type a field is sent as. */
export function idTypeFor(field: MatchField, deviceIdHash: DeviceIdHash = 'sha256'): IdType {
	const { idTypes } = MATCH_FIELD_SPECS[field];
	return hashAlgorithmFor(field, deviceIdHash) === 'md5' && idTypes.md5 ? idTypes.md5 : idTypes.sha256;
}
