import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { searchAdvertisers, searchAudiences } from '../shared/methods/listSearch';
import { router } from './actions/router';
import { versionDescription } from './actions/versionDescription';

export class TikTokAudience implements INodeType {
	description: INodeTypeDescription = versionDescription;

	methods = {
		listSearch: { searchAdvertisers, searchAudiences },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await router.call(this);
	}
}
