import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { advertiserProperty, audienceProperty } from '../../../shared/descriptions';
import type { SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { forEachItem, locatorValue } from '../common';
import { forgetMirror, mirrorMemoryError, mirrorPlaceFor } from './mirrorPlace';

const show = { resource: ['user'], operation: ['forgetMirror'] };

export const description: INodeProperties[] = [
	advertiserProperty({ show }),
	audienceProperty({ show }),
	{
		displayName:
			'Forgets which users Mirror List sent to this audience: the next mirror adds everyone in its list again and removes nothing. The audience itself is not changed.',
		name: 'forgetMirrorNotice',
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
		if (!advertiserId || !audienceId) throw new Error('Choose an ad account and an audience');
		try {
			await forgetMirror(place, { baseUrl: client.baseUrl, advertiserId, audienceId });
		} catch (error) {
			throw mirrorMemoryError(this, state, place, error);
		}
		return { advertiserId, audienceId, mirrorMemoryForgotten: true };
	});
}
