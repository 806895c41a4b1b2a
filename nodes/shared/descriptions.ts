import {
	NodeOperationError,
	type IDisplayOptions,
	type IExecuteFunctions,
	type INode,
	type INodeCredentialDescription,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import { ACCESS_TOKEN_CREDENTIAL, OAUTH2_CREDENTIAL } from './connection';
import { fixedParameter, parameterReader } from './fastParameters';
import { MATCH_FIELD_SPECS, MATCH_FIELDS, type DeviceIdHash, type MatchField } from './identifiers/fields';
import type { EmailNormalisation } from './identifiers/normalise';

/**
 * UI parts both nodes share: the credential choice, the ad account and audience pickers, and Fields to Match.
 * Written once so the TikTok Audience and Batch Sync nodes look and behave the same.
 */

export const credentialDescriptions: INodeCredentialDescription[] = [
	{ name: OAUTH2_CREDENTIAL, required: true, displayOptions: { show: { authentication: ['oAuth2'] } } },
	{ name: ACCESS_TOKEN_CREDENTIAL, required: true, displayOptions: { show: { authentication: ['accessToken'] } } },
];

export const authenticationProperty: INodeProperties = {
	displayName: 'Authentication',
	name: 'authentication',
	type: 'options',
	options: [
		{ name: 'OAuth2 (Recommended)', value: 'oAuth2' },
		{ name: 'Access Token', value: 'accessToken' },
	],
	default: 'oAuth2',
};

/*
 * The numeric IDs the nodes take. They are checked by the node itself when it reads them (checkTikTokId), not by a
 * `validation` regex on the locator's "By ID" mode: n8n runs those before every execution through its regex guard,
 * which has a 250 ms budget and timed out on a busy machine (about 1 in 3,250 executions failed before the node ran).
 */
const TIKTOK_IDS = {
	advertiserId: { noun: 'An ad account', example: '7012345678901234567', minDigits: 5 },
	audienceId: { noun: 'An audience', example: '1790000000000001', minDigits: 3 },
} as const;

type TikTokIdName = keyof typeof TIKTOK_IDS;

/** The ID as the node sends it: digits only (5–25 for an ad account, 3–25 for an audience), else a clear error. */
export function checkTikTokId(node: INode, name: TikTokIdName, value: string, itemIndex?: number): string {
	const rule = TIKTOK_IDS[name];
	const digits = value.length;
	let wellFormed = digits >= rule.minDigits && digits <= 25;
	for (let index = 0; wellFormed && index < digits; index++) {
		const code = value.charCodeAt(index);
		wellFormed = code >= 48 && code <= 57;
	}
	if (wellFormed) return value;
	const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
	throw new NodeOperationError(node, `${rule.noun} ID is a number of ${rule.minDigits}–25 digits, e.g. ${rule.example}; got "${shown}"`, {
		itemIndex,
		description: 'Pick it from the list, or copy the number from TikTok Ads Manager.',
	});
}

/** A TikTok object picked from a searchable list or entered by its numeric ID. */
function numericIdLocator(args: {
	displayName: string;
	name: TikTokIdName;
	description: string;
	searchListMethod: string;
	displayOptions?: IDisplayOptions;
	typeOptions?: INodeProperties['typeOptions'];
}): INodeProperties {
	return {
		displayName: args.displayName,
		name: args.name,
		type: 'resourceLocator',
		default: { mode: 'list', value: '' },
		required: true,
		description: args.description,
		displayOptions: args.displayOptions,
		...(args.typeOptions ? { typeOptions: args.typeOptions } : {}),
		modes: [
			{
				displayName: 'From List',
				name: 'list',
				type: 'list',
				typeOptions: { searchListMethod: args.searchListMethod, searchable: true },
			},
			{
				displayName: 'By ID',
				name: 'id',
				type: 'string',
				placeholder: TIKTOK_IDS[args.name].example,
			},
		],
	};
}

export function advertiserProperty(displayOptions?: IDisplayOptions): INodeProperties {
	return numericIdLocator({
		displayName: 'Ad Account',
		name: 'advertiserId',
		description: 'The TikTok ad account (advertiser) that owns the audience',
		searchListMethod: 'searchAdvertisers',
		displayOptions,
	});
}

export function audienceProperty(displayOptions?: IDisplayOptions): INodeProperties {
	return numericIdLocator({
		displayName: 'Audience',
		name: 'audienceId',
		description: 'An existing TikTok custom audience of the ad account',
		searchListMethod: 'searchAudiences',
		displayOptions,
		typeOptions: { loadOptionsDependsOn: ['advertiserId.value'] },
	});
}

/** Existing audience, or one found (or created) by name: Braze's "New or Existing Audience" in one field pair. */
export function audienceTargetProperties(displayOptions?: IDisplayOptions): INodeProperties[] {
	const show = displayOptions?.show ?? {};
	return [
		{
			displayName: 'Audience Selection',
			name: 'audienceSelection',
			type: 'options',
			options: [
				{ name: 'Existing Audience', value: 'existing', description: 'Pick an audience from the list or enter its ID' },
				{
					name: 'By Name (Create if Missing)',
					value: 'byName',
					description: 'Use the audience with this name, creating it on the first run',
				},
			],
			default: 'existing',
			displayOptions,
		},
		audienceProperty({ show: { ...show, audienceSelection: ['existing'] } }),
		{
			displayName: 'Audience Name',
			name: 'audienceName',
			type: 'string',
			default: '',
			required: true,
			placeholder: 'n8n: Trial sign-ups',
			description: 'Name of the audience to add users to. TikTok cuts names longer than 70 characters to 67 + "...".',
			displayOptions: { show: { ...show, audienceSelection: ['byName'] } },
		},
	];
}

export function matchFieldProperties(displayOptions?: IDisplayOptions): INodeProperties[] {
	const show = displayOptions?.show ?? {};
	const valueProperties: INodeProperties[] = MATCH_FIELDS.map((field) => ({
		displayName: MATCH_FIELD_SPECS[field].label,
		name: `${field}Value`,
		type: 'string',
		default: MATCH_FIELD_SPECS[field].defaultExpression,
		description: MATCH_FIELD_SPECS[field].hint,
		displayOptions: { show: { ...show, matchFields: [field] } },
	}));
	return [
		{
			displayName: 'Fields to Match',
			name: 'matchFields',
			type: 'multiOptions',
			options: MATCH_FIELDS.map((field) => ({ name: MATCH_FIELD_SPECS[field].label, value: field })),
			default: ['email'],
			required: true,
			description:
				'Identifiers TikTok matches users on. Send every one you have: each extra field raises the match rate.',
			displayOptions,
		},
		...valueProperties,
	];
}

export function identifierOptionProperties(): INodeProperties[] {
	return [
		{
			displayName: 'Default Country Code',
			name: 'defaultCountryCode',
			type: 'string',
			default: '',
			placeholder: 'e.g. IT or 39',
			description:
				"Country of phone numbers written without a country code: an ISO code (IT, GB, US) or a calling code (39, +39). A calling code shared by several countries means its main one (1: US, 7: RU, 44: GB), and the others' national numbers still parse. Numbers starting with + or 00 keep their own.",
		},
		{
			displayName: 'Device ID Hash',
			name: 'deviceIdHash',
			type: 'options',
			options: [
				{ name: 'SHA-256', value: 'sha256' },
				{ name: 'MD5', value: 'md5' },
			],
			default: 'sha256',
			description: 'How IDFA and GAID/AAID are hashed (sent as *_SHA256 or *_MD5). Email and phone always use SHA-256.',
		},
		{
			displayName: 'Email Normalisation',
			name: 'emailNormalisation',
			type: 'options',
			options: [
				{
					name: 'TikTok Rules',
					value: 'tiktok',
					description: 'Trim, lowercase, drop +tags and dots before the @, as TikTok matches customer files',
				},
				{ name: 'Trim and Lowercase Only', value: 'basic', description: 'Keep dots and +tags' },
			],
			default: 'tiktok',
		},
	];
}

export interface MatchSettings {
	fields: MatchField[];
	emailNormalisation: EmailNormalisation;
	defaultCountryCode: string;
	deviceIdHash: DeviceIdHash;
}

/** Read Fields to Match and the identifier options (options live in the node's `options` collection). */
export function readMatchSettings(context: IExecuteFunctions): MatchSettings {
	const chosen = fixedParameter<MatchField[]>(context, 'matchFields', ['email']);
	const fields = MATCH_FIELDS.filter((field) => chosen.includes(field));
	const options = fixedParameter(context, 'options', {}) as {
		emailNormalisation?: EmailNormalisation;
		defaultCountryCode?: string;
		deviceIdHash?: DeviceIdHash;
	};
	return {
		fields,
		emailNormalisation: options.emailNormalisation ?? 'tiktok',
		defaultCountryCode: String(options.defaultCountryCode ?? ''),
		deviceIdHash: options.deviceIdHash ?? 'sha256',
	};
}

/** Readers of the raw values of the chosen fields, one per field, for any item. */
export function matchValueReaders(
	context: IExecuteFunctions,
	items: INodeExecutionData[],
	fields: MatchField[],
): (itemIndex: number) => unknown[] {
	const readers = fields.map((field) => parameterReader(context, `${field}Value`, items));
	return (itemIndex) => readers.map((read) => read(itemIndex));
}

/** Each item says whether its user is added or removed (consent: an opt-out leaves the audience). */
export function itemActionProperty(displayOptions: IDisplayOptions): INodeProperties {
	return {
		displayName: 'Action per Item',
		name: 'itemAction',
		type: 'string',
		default: "={{ $json.optedOut ? 'remove' : 'add' }}",
		required: true,
		description:
			'"add" or "remove", per item. For one user the last item wins: an opt-in followed by an opt-out leaves the user out of the audience.',
		hint: 'An expression giving "add" or "remove" for each item',
		displayOptions,
	};
}

export type ItemAction = 'add' | 'remove';

/** Reads every item's Action per Item: "add" or "remove" (any case, trimmed), or the reason the item cannot be synced. */
export function itemActionReader(
	context: IExecuteFunctions,
	items: INodeExecutionData[],
): (itemIndex: number) => { action: ItemAction; reason?: undefined } | { action?: undefined; reason: string } {
	const read = parameterReader(context, 'itemAction', items);
	return (itemIndex) => {
		const value = read(itemIndex);
		const action = typeof value === 'string' ? value.trim().toLowerCase() : value;
		if (action === 'add' || action === 'remove') return { action };
		return { reason: 'Action per Item must be "add" or "remove"' };
	};
}
