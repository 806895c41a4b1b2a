import type { Icon, ICredentialType, INodeProperties } from 'n8n-workflow';

import { baseUrlExpression, environmentProperties } from './environment';

/**
 * "Connect" with TikTok for Business through n8n's OAuth2 flow.
 *
 * TikTok's portal takes `app_id` (not `client_id`) and has no scopes: permissions are fixed on the TikTok app.
 * Its standard-shaped token endpoint (/oauth/token/) takes client_id, client_secret and code in the body, which is
 * what n8n sends. TikTok tokens do not expire and there is no refresh token.
 */
export class TikTokBusinessOAuth2Api implements ICredentialType {
	name = 'tikTokBusinessOAuth2Api';

	extends = ['oAuth2Api'];

	displayName = 'TikTok for Business OAuth2 API';

	icon: Icon = { light: 'file:tiktok.svg', dark: 'file:tiktok.dark.svg' };

	documentationUrl = 'https://github.com/n8n-nodes-tiktok-audience-sync/n8n-nodes-tiktok-audience-sync#connect-tiktok';

	properties: INodeProperties[] = [
		...environmentProperties,
		// n8n's OAuth2 fields. The editor shows oAuth2Api's own labels for them ("Client ID", "Client Secret": the
		// parent's properties win when n8n merges them), so these say the same and the README maps them to TikTok's.
		{
			displayName: 'Client ID',
			name: 'clientId',
			type: 'string',
			default: '',
			required: true,
			description: 'Your TikTok app’s App ID (TikTok API for Business → My Apps)',
		},
		{
			displayName: 'Client Secret',
			name: 'clientSecret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'Your TikTok app’s Secret (TikTok API for Business → My Apps)',
		},
		{
			displayName: 'Grant Type',
			name: 'grantType',
			type: 'hidden',
			default: 'authorizationCode',
		},
		{
			displayName: 'Authorization URL',
			name: 'authUrl',
			type: 'hidden',
			default: `={{ (${baseUrlExpression('$self', 'portal')}) + "/portal/auth" }}`,
		},
		{
			displayName: 'Access Token URL',
			name: 'accessTokenUrl',
			type: 'hidden',
			default: `={{ (${baseUrlExpression('$self')}) + "/open_api/v1.3/oauth/token/" }}`,
		},
		{
			displayName: 'Auth URI Query Parameters',
			name: 'authQueryParameters',
			type: 'hidden',
			default: '={{ "app_id=" + $self["clientId"] }}',
		},
		{
			displayName: 'Scope',
			name: 'scope',
			type: 'hidden',
			default: '',
		},
		{
			displayName: 'Authentication',
			name: 'authentication',
			type: 'hidden',
			default: 'body',
		},
	];
}
