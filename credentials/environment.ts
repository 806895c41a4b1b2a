import type { ICredentialDataDecryptedObject, INodeProperties } from 'n8n-workflow';

export type TikTokEnvironment = 'production' | 'sandbox' | 'custom';

/**
 * Where each environment's API and OAuth portal live: the one table of TikTok hosts. The sandbox has no OAuth portal
 * of its own (its tokens come from the developer portal), so its authorisation page is production's.
 */
export const ENVIRONMENT_HOSTS: Readonly<Record<Exclude<TikTokEnvironment, 'custom'>, { api: string; portal: string }>> = {
	production: { api: 'https://business-api.tiktok.com', portal: 'https://business-api.tiktok.com' },
	sandbox: { api: 'https://sandbox-ads.tiktok.com', portal: 'https://business-api.tiktok.com' },
};

/**
 * The Environment choice both credentials share. Production and Sandbox are TikTok's hosts; Custom points the
 * credential at any TikTok-compatible base URL (the local TikTok API used by tests and `npm run dev`).
 */
export const environmentProperties: INodeProperties[] = [
	{
		displayName: 'Environment',
		name: 'environment',
		type: 'options',
		options: [
			{ name: 'Production', value: 'production', description: 'business-api.tiktok.com' },
			{ name: 'Sandbox', value: 'sandbox', description: 'sandbox-ads.tiktok.com (tokens from the developer portal)' },
			{ name: 'Custom Base URL', value: 'custom', description: 'A TikTok-compatible API, e.g. a local test server' },
		],
		default: 'production',
	},
	{
		displayName: 'Base URL',
		name: 'baseUrl',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'http://127.0.0.1:8787',
		description: 'Scheme and host of the API, without /open_api/v1.3',
		displayOptions: { show: { environment: ['custom'] } },
	},
];

/** The API (or portal) base URL a credential's fields point at, without a trailing slash. */
export function baseUrlFromCredential(credentials: ICredentialDataDecryptedObject, host: 'api' | 'portal' = 'api'): string {
	const environment = (credentials.environment as TikTokEnvironment | undefined) ?? 'production';
	if (environment === 'custom') return String(credentials.baseUrl ?? '').replace(/\/+$/, '');
	return (ENVIRONMENT_HOSTS[environment] ?? ENVIRONMENT_HOSTS.production)[host];
}

/**
 * baseUrlFromCredential as an n8n expression over the credential's own fields ($self in OAuth2 fields, $credentials
 * in the credential test), for the places n8n evaluates itself.
 */
export function baseUrlExpression(source: '$self' | '$credentials', host: 'api' | 'portal' = 'api'): string {
	const { production, sandbox } = ENVIRONMENT_HOSTS;
	return (
		`${source}["environment"] === "custom" ? String(${source}["baseUrl"] || "").replace(/\\/+$/, "") : ` +
		`(${source}["environment"] === "sandbox" ? "${sandbox[host]}" : "${production[host]}")`
	);
}
