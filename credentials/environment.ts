import type { INodeProperties } from 'n8n-workflow';

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

/** The same choice as an n8n expression over the credential's own fields ($self in OAuth2 fields, $credentials in tests). */
export function baseUrlExpression(source: '$self' | '$credentials'): string {
	return (
		`${source}["environment"] === "custom" ? String(${source}["baseUrl"] || "").replace(/\\/+$/, "") : ` +
		`(${source}["environment"] === "sandbox" ? "https://sandbox-ads.tiktok.com" : "https://business-api.tiktok.com")`
	);
}
