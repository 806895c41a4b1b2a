import { NodeConnectionTypes, type INodeTypeDescription } from 'n8n-workflow';

import { authenticationProperty, credentialDescriptions } from '../../shared/descriptions';
import * as audience from './audience/Audience.resource';
import * as user from './user/User.resource';

export const versionDescription: INodeTypeDescription = {
	displayName: 'TikTok Audience',
	name: 'tikTokAudience',
	icon: { light: 'file:tiktok.svg', dark: 'file:tiktok.dark.svg' },
	group: ['output'],
	version: 1,
	subtitle: '={{ $parameter["resource"] + ": " + $parameter["operation"] }}',
	description: 'Create TikTok custom audiences and add or remove users, matched on hashed email, phone or device IDs',
	defaults: { name: 'TikTok Audience' },
	usableAsTool: true,
	inputs: [NodeConnectionTypes.Main],
	outputs: [NodeConnectionTypes.Main],
	credentials: credentialDescriptions,
	properties: [
		authenticationProperty,
		{
			displayName: 'Resource',
			name: 'resource',
			type: 'options',
			noDataExpression: true,
			options: [
				{ name: 'Audience', value: 'audience' },
				{ name: 'User', value: 'user' },
			],
			default: 'user',
		},
		...audience.description,
		...user.description,
	],
};
