import { NodeOperationError, type IDataObject, type IExecuteFunctions, type INodeExecutionData, type INodeProperties } from 'n8n-workflow';

import { MIN_TARGETABLE_AUDIENCE_SIZE } from '../../../shared/audiences';
import { advertiserProperty, audienceProperty } from '../../../shared/descriptions';
import type { TikTokClient } from '../../../shared/transport/client';
import type { AudienceDetails, AudienceSummary } from '../../../shared/transport/schemas';
import { forEachItem, locatorValue } from '../common';

const show = { resource: ['audience'], operation: ['get'] };

export const description: INodeProperties[] = [advertiserProperty({ show }), audienceProperty({ show })];

/** One flat, readable shape for an audience, from either the list or the get endpoint. */
export function simplifyAudience(advertiserId: string, audience: AudienceDetails | AudienceSummary): IDataObject {
	const details = audience as AudienceDetails & AudienceSummary;
	const size = typeof details.cover_num === 'number' ? details.cover_num : null;
	return {
		advertiserId,
		audienceId: details.audience_id,
		name: details.name,
		type: details.type ?? details.audience_type ?? null,
		size,
		sizeShown: size !== null && size >= MIN_TARGETABLE_AUDIENCE_SIZE,
		isValid: details.is_valid ?? null,
		isExpiring: details.is_expiring ?? null,
		expiresAt: details.expired_time ?? null,
		createdAt: details.create_time ?? null,
	};
}

export async function execute(this: IExecuteFunctions, client: TikTokClient): Promise<INodeExecutionData[]> {
	let smallAudience = false;
	const output = await forEachItem(this, async (itemIndex) => {
		const advertiserId = locatorValue(this, 'advertiserId', itemIndex);
		const audienceId = locatorValue(this, 'audienceId', itemIndex);
		// TikTok answers an unknown ID either with an error code (reported as TikTok worded it) or with code 0 and an
		// empty list, which is said here as it is: no audience came back.
		const [details] = await client.getCustomAudiences(advertiserId, [audienceId]);
		if (!details) {
			throw new NodeOperationError(this.getNode(), `TikTok returned no audience with ID ${audienceId} in ad account ${advertiserId}`, {
				itemIndex,
				description:
					'TikTok answered without an error but with an empty list: the audience was deleted, or it belongs to another ad account. ' +
					"Pick the audience From List, or check its ID with Get Many on this ad account; if it was deleted, create it again.",
			});
		}
		const simplified = simplifyAudience(advertiserId, details);
		if (!simplified.sizeShown) smallAudience = true;
		return simplified;
	});
	if (smallAudience) {
		this.addExecutionHints({
			message: `TikTok shows an audience's size only from about ${MIN_TARGETABLE_AUDIENCE_SIZE.toLocaleString('en-US')} matched users, and membership takes hours to show; a size of 0 does not mean the sync failed.`,
			location: 'outputPane',
		});
	}
	return output;
}
