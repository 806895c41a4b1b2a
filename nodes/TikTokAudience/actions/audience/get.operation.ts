import type { IDataObject, IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { MIN_TARGETABLE_AUDIENCE_SIZE } from '../../../shared/audiences';
import { advertiserProperty, audienceProperty } from '../../../shared/descriptions';
import type { TikTokClient } from '../../../shared/transport/client';
import { TikTokApiError } from '../../../shared/transport/errors';
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
		const [details] = await client.getCustomAudiences(advertiserId, [audienceId]);
		if (!details) {
			throw new TikTokApiError({ message: 'invalid audience ID', code: 40002, tiktokMessage: 'Parameter error: invalid audience ID' });
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
