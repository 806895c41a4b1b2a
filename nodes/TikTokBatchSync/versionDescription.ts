import { NodeConnectionTypes, type INodeProperties, type INodeTypeDescription } from 'n8n-workflow';

import {
	advertiserProperty,
	audienceTargetProperties,
	authenticationProperty,
	credentialDescriptions,
	identifierOptionProperties,
	matchFieldProperties,
} from '../shared/descriptions';
import { DEFAULT_SYNC_SETTINGS, MAX_USERS_PER_REQUEST } from './engine';
import { TIKTOK_MAX_REQUESTS_PER_SECOND } from '../shared/transport/rateLimit';

const sync = { operation: ['sync'] };

const syncProperties: INodeProperties[] = [
	{
		displayName: 'Action',
		name: 'action',
		type: 'options',
		options: [
			{ name: 'Add to Audience', value: 'add' },
			{ name: 'Remove From Audience', value: 'remove' },
		],
		default: 'add',
		displayOptions: { show: sync },
	},
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
		options: [
			...identifierOptionProperties(),
			{
				displayName: 'Max Pending Users',
				name: 'maxPendingUsers',
				type: 'number',
				typeOptions: { minValue: 1000 },
				default: DEFAULT_SYNC_SETTINGS.maxPendingUsers,
				description:
					'Most users this node keeps waiting for TikTok (they are journaled in the workflow). Past it, new users are refused with an error instead of growing the journal without limit.',
			},
			{
				displayName: 'Requests per Second',
				name: 'requestsPerSecond',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: TIKTOK_MAX_REQUESTS_PER_SECOND },
				default: TIKTOK_MAX_REQUESTS_PER_SECOND,
				description:
					'Ceiling for this node. Every node and workflow using the same TikTok app in this n8n shares TikTok’s 50 requests/s.',
			},
			{
				displayName: 'Retry For (Hours)',
				name: 'retryHorizonHours',
				type: 'number',
				typeOptions: { minValue: 0.01, numberPrecision: 2 },
				default: DEFAULT_SYNC_SETTINGS.retryHorizonMs / 3_600_000,
				description: 'How long failed users are retried before they count as errored',
			},
			{
				displayName: 'Users per Request',
				name: 'usersPerRequest',
				type: 'number',
				typeOptions: { minValue: 1, maxValue: MAX_USERS_PER_REQUEST },
				default: MAX_USERS_PER_REQUEST,
				description: 'At most 10,000, TikTok’s limit',
			},
			{
				displayName: 'Wait for Delivery',
				name: 'waitForDelivery',
				type: 'boolean',
				default: true,
				description:
					'Whether the execution waits until its users are sent (or scheduled for retry). Off: it returns at once and the users are reported pending.',
			},
			{
				displayName: 'Window (Seconds)',
				name: 'windowSeconds',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 300, numberPrecision: 1 },
				default: DEFAULT_SYNC_SETTINGS.windowMs / 1000,
				description:
					'Users arriving within this window, from any execution, are gathered into shared requests. A full request of 10,000 goes at once.',
			},
		],
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
	subtitle: '={{ $parameter["operation"] === "flush" ? "Flush & Report" : ($parameter["action"] === "remove" ? "Remove users" : "Add users") }}',
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
