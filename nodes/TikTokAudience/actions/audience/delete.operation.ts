import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { forgetAudience } from '../../../shared/audiences';
import { advertiserProperty, audienceProperty } from '../../../shared/descriptions';
import type { SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { forEachItem, locatorValue } from '../common';
import { forgetMirror, mirrorMemoryError, mirrorPlaceFor } from '../user/mirrorPlace';

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

export async function execute(this: IExecuteFunctions, client: TikTokClient, state: SharedState): Promise<INodeExecutionData[]> {
	const place = mirrorPlaceFor(state);
	return await forEachItem(this, async (itemIndex) => {
		const advertiserId = locatorValue(this, 'advertiserId', itemIndex);
		const audienceId = locatorValue(this, 'audienceId', itemIndex);
		await client.deleteSegmentAudience(advertiserId, audienceId);
		forgetAudience(client.baseUrl, advertiserId, audienceId);
		// What Mirror List remembered of it goes too: a new audience may get the same ID some day.
		try {
			await forgetMirror(place, { baseUrl: client.baseUrl, advertiserId, audienceId });
		} catch (error) {
			throw mirrorMemoryError(this, state, place, error);
		}
		return { advertiserId, audienceId, deleted: true };
	});
}
