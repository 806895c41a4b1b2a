import type {
	IAuthenticateGeneric,
	Icon,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
} from 'n8n-workflow';

import { baseUrlExpression, environmentProperties } from './environment';

/**
 * A TikTok for Business access token pasted by hand: sandbox tokens from the developer portal, or a long-term
 * advertiser token obtained outside n8n. App ID and Secret are optional but needed to list ad accounts.
 */
export class TikTokBusinessApi implements ICredentialType {
	name = 'tikTokBusinessApi';

	displayName = 'TikTok for Business API';

	icon: Icon = { light: 'file:tiktok.svg', dark: 'file:tiktok.dark.svg' };

	documentationUrl = 'https://github.com/n8n-nodes-tiktok-audience-sync/n8n-nodes-tiktok-audience-sync#connect-tiktok';

	properties: INodeProperties[] = [
		{
			displayName: 'Access Token',
			name: 'accessToken',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
		},
		{
			displayName: 'App ID',
			name: 'appId',
			type: 'string',
			default: '',
			description: 'Your TikTok app’s ID (My Apps). Needed to list ad accounts.',
		},
		{
			displayName: 'Secret',
			name: 'secret',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			description: 'Your TikTok app’s secret. Needed to list ad accounts.',
		},
		...environmentProperties,
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: {
				'Access-Token': '={{$credentials.accessToken}}',
			},
		},
	};

	// TikTok answers HTTP 200 with an error code for a bad token: only a successful answer carries data.core_user_id.
	test: ICredentialTestRequest = {
		request: {
			baseURL: `={{ ${baseUrlExpression('$credentials')} }}`,
			url: '/open_api/v1.3/user/info/',
			method: 'GET',
		},
		rules: [
			{
				type: 'responseSuccessBody',
				properties: {
					key: 'data.core_user_id',
					value: undefined,
					message: 'TikTok did not accept this access token: it is wrong, expired or revoked. Generate a new one or use the OAuth2 credential.',
				},
			},
		],
	};
}
