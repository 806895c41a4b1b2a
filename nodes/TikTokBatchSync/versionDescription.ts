import { NodeConnectionTypes, type INodeProperties, type INodeTypeDescription } from 'n8n-workflow';

import {
	advertiserProperty,
	audienceTargetProperties,
	authenticationProperty,
	credentialDescriptions,
	identifierOptionProperties,
	itemActionProperty,
	matchFieldProperties,
} from '../shared/descriptions';
import { syncOptionProperties } from './options';

const sync = { operation: ['sync'] };

const syncProperties: INodeProperties[] = [
	{
		displayName: 'Action',
		name: 'action',
		type: 'options',
		options: [
			{ name: 'Add to Audience', value: 'add' },
			{ name: 'Remove From Audience', value: 'remove' },
			{ name: 'Add or Remove per Item', value: 'perItem' },
		],
		default: 'add',
		displayOptions: { show: sync },
	},
	itemActionProperty({ show: { ...sync, action: ['perItem'] } }),
	advertiserProperty({ show: sync }),
	...audienceTargetProperties({ show: sync }),
	...matchFieldProperties({ show: sync }),
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show: sync },
		// One alphabetical list, as n8n shows a collection's options.
		options: [...identifierOptionProperties(), ...syncOptionProperties()].sort((a, b) => a.displayName.localeCompare(b.displayName)),
	},
];

const flushProperties: INodeProperties[] = [
	{
		displayName:
			'Put this on a Schedule Trigger in the same workflow as the Sync Users node(s): it sends what is waiting, retries what is due, restores pending users after an n8n restart, and reports the totals of every Batch Sync node in the workflow.',
		name: 'flushNotice',
		type: 'notice',
		default: '',
		displayOptions: { show: { operation: ['flush'] } },
	},
];

export const batchSyncDescription: INodeTypeDescription = {
	displayName: 'TikTok Batch Sync',
	name: 'tikTokBatchSync',
	icon: { light: 'file:tiktok.svg', dark: 'file:tiktok.dark.svg' },
	group: ['output'],
	version: 1,
	subtitle: '={{ $parameter["operation"] === "flush" ? "Flush & Report" : ({ remove: "Remove users", perItem: "Add or remove users" })[$parameter["action"]] ?? "Add users" }}',
	description:
		'Sync users into a TikTok audience in near real time: gathers users from every execution, sends up to 10,000 per request at TikTok’s pace, retries for hours, and reports Braze-style metrics',
	defaults: { name: 'TikTok Batch Sync' },
	inputs: [NodeConnectionTypes.Main],
	outputs: [NodeConnectionTypes.Main, NodeConnectionTypes.Main],
	outputNames: ['Metrics', 'Users'],
	credentials: credentialDescriptions,
	properties: [
		authenticationProperty,
		{
			displayName: 'Operation',
			name: 'operation',
			type: 'options',
			noDataExpression: true,
			options: [
				{
					name: 'Sync Users',
					value: 'sync',
					description: 'Add or remove the incoming users, batched with every other execution',
					action: 'Sync users to an audience',
				},
				{
					name: 'Flush & Report',
					value: 'flush',
					description: 'Send what is waiting, retry what is due, and report totals',
					action: 'Flush & report',
				},
			],
			default: 'sync',
		},
		...syncProperties,
		...flushProperties,
	],
};
