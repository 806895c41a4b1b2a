import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { listAllAudiences } from '../audiences';
import { getClient } from '../connection';
import { toNodeError } from '../errors';

function matches(filter: string | undefined, ...texts: string[]): boolean {
	if (!filter) return true;
	const wanted = filter.toLowerCase();
	return texts.some((text) => text.toLowerCase().includes(wanted));
}

export async function searchAdvertisers(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	try {
		const client = await getClient(this);
		const advertisers = await client.listAdvertisers();
		return {
			results: advertisers
				.filter((advertiser) => matches(filter, advertiser.name, advertiser.id))
				.map((advertiser) => ({ name: advertiser.name ? `${advertiser.name} (${advertiser.id})` : advertiser.id, value: advertiser.id }))
				.sort((a, b) => a.name.localeCompare(b.name)),
		};
	} catch (error) {
		throw toNodeError(this.getNode(), error);
	}
}

export async function searchAudiences(this: ILoadOptionsFunctions, filter?: string): Promise<INodeListSearchResult> {
	const advertiserId = this.getCurrentNodeParameter('advertiserId', { extractValue: true }) as string | undefined;
	if (!advertiserId) return { results: [] };
	try {
		const client = await getClient(this);
		const audiences = await listAllAudiences(client, advertiserId);
		return {
			results: audiences
				.filter((audience) => matches(filter, audience.name, audience.audience_id))
				.map((audience) => ({ name: `${audience.name} (${audience.audience_id})`, value: audience.audience_id })),
		};
	} catch (error) {
		throw toNodeError(this.getNode(), error);
	}
}
