import type { IExecuteFunctions, INodeExecutionData, INodeProperties } from 'n8n-workflow';

import { listAllAudiences } from '../../../shared/audiences';
import { advertiserProperty } from '../../../shared/descriptions';
import type { TikTokClient } from '../../../shared/transport/client';
import { forEachItem, locatorValue } from '../common';
import { simplifyAudience } from './get.operation';

const show = { resource: ['audience'], operation: ['getMany'] };

export const description: INodeProperties[] = [
	advertiserProperty({ show }),
	{
		displayName: 'Return All',
		name: 'returnAll',
		type: 'boolean',
		default: false,
		description: 'Whether to return all results or only up to a given limit',
		displayOptions: { show },
	},
	{
		displayName: 'Limit',
		name: 'limit',
		type: 'number',
		typeOptions: { minValue: 1 },
		default: 50,
		description: 'Max number of results to return',
		displayOptions: { show: { ...show, returnAll: [false] } },
	},
	{
		displayName: 'Filters',
		name: 'filters',
		type: 'collection',
		placeholder: 'Add Filter',
		default: {},
		displayOptions: { show },
		options: [
			{
				displayName: 'Name Contains',
				name: 'nameContains',
				type: 'string',
				default: '',
				description: 'Only audiences whose name contains this text (case-insensitive)',
			},
		],
	},
];

export async function execute(this: IExecuteFunctions, client: TikTokClient): Promise<INodeExecutionData[]> {
	return await forEachItem(this, async (itemIndex) => {
		const advertiserId = locatorValue(this, 'advertiserId', itemIndex);
		const returnAll = this.getNodeParameter('returnAll', itemIndex, false) as boolean;
		const limit = returnAll ? Infinity : (this.getNodeParameter('limit', itemIndex, 50) as number);
		const { nameContains = '' } = this.getNodeParameter('filters', itemIndex, {}) as { nameContains?: string };
		const wanted = nameContains.trim().toLowerCase();
		const audiences = (await listAllAudiences(client, advertiserId))
			.filter((audience) => !wanted || audience.name.toLowerCase().includes(wanted))
			.slice(0, limit);
		return audiences.map((audience) => simplifyAudience(advertiserId, audience));
	});
}
