import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { forgetAudience } from '../../../shared/audiences';
import { advertiserProperty, audienceProperty } from '../../../shared/descriptions';
import type { TikTokClient } from '../../../shared/transport/client';
import { forEachItem, locatorValue } from '../common';

const show = { resource: ['audience'], operation: ['delete'] };

export const description: INodeProperties[] = [
	advertiserProperty({ show }),
	audienceProperty({ show }),
	{
		displayName: 'Deleting an audience also stops every ad group that targets or excludes it from using it.',
		name: 'deleteNotice',
		type: 'notice',
		default: '',
		displayOptions: { show },
	},
];

export async function execute(this: IExecuteFunctions, client: TikTokClient): Promise<INodeExecutionData[]> {
	return await forEachItem(this, async (itemIndex) => {
		const advertiserId = locatorValue(this, 'advertiserId', itemIndex);
		const audienceId = locatorValue(this, 'audienceId', itemIndex);
		await client.deleteSegmentAudience(advertiserId, audienceId);
		forgetAudience(client.baseUrl, advertiserId, audienceId);
		return { advertiserId, audienceId, deleted: true };
	});
}
