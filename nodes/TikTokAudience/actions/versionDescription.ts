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
	// worded as the TikTok Batch Sync node's subtitles ("Add users"); the raw values where a combination is missing
	subtitle:
		'={{ ({ "user:add": "Add users", "user:remove": "Remove users", "user:addOrRemove": "Add or remove users", "user:mirror": "Mirror list", "user:forgetMirror": "Forget mirror memory", "audience:create": "Create audience", "audience:get": "Get audience", "audience:getMany": "Get many audiences", "audience:delete": "Delete audience" })[$parameter["resource"] + ":" + $parameter["operation"]] ?? ($parameter["resource"] + ": " + $parameter["operation"]) }}',
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
