import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { ensureAudience, MAX_AUDIENCES_PER_AD_ACCOUNT } from '../../../shared/audiences';
import { advertiserProperty } from '../../../shared/descriptions';
import { sharedAudienceNames, type SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { forEachItem, locatorValue } from '../common';

const show = { resource: ['audience'], operation: ['create'] };

export const description: INodeProperties[] = [
	advertiserProperty({ show }),
	{
		displayName: 'Name',
		name: 'name',
		type: 'string',
		default: '',
		required: true,
		placeholder: 'n8n: Trial sign-ups',
		description: 'TikTok cuts names longer than 70 characters to 67 + "..."',
		displayOptions: { show },
	},
	{
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: { show },
		options: [
			{
				displayName: 'Reuse Existing Audience With This Name',
				name: 'reuseExisting',
				type: 'boolean',
				default: true,
				description:
					'Whether to return the existing audience of the same name instead of creating a duplicate (TikTok allows duplicate names)',
			},
		],
	},
	{
		displayName: `An ad account holds at most ${MAX_AUDIENCES_PER_AD_ACCOUNT} custom audiences. A new audience shows no size until about 1,000 users match.`,
		name: 'createNotice',
		type: 'notice',
		default: '',
		displayOptions: { show },
	},
];

export async function execute(this: IExecuteFunctions, client: TikTokClient, state: SharedState): Promise<INodeExecutionData[]> {
	return await forEachItem(this, async (itemIndex) => {
		const advertiserId = locatorValue(this, 'advertiserId', itemIndex);
		const name = String(this.getNodeParameter('name', itemIndex, '')).trim();
		if (!name) throw new Error('Enter a name for the audience');
		const { reuseExisting = true } = this.getNodeParameter('options', itemIndex, {}) as { reuseExisting?: boolean };
		const audience = await ensureAudience(client, advertiserId, name, reuseExisting, false, sharedAudienceNames(state));
		return { advertiserId, audienceId: audience.audienceId, name: audience.name, created: audience.created };
	});
}
