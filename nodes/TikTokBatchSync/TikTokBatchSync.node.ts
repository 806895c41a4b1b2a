import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { toNodeError } from '../shared/connection';
import { searchAdvertisers, searchAudiences } from '../shared/methods/listSearch';
import { flushAndReport } from './actions/flushAndReport';
import { syncUsers } from './actions/syncUsers';
import { batchSyncDescription } from './versionDescription';

export class TikTokBatchSync implements INodeType {
	description: INodeTypeDescription = batchSyncDescription;

	methods = {
		listSearch: { searchAdvertisers, searchAudiences },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0, 'sync') as string;
		try {
			return operation === 'flush' ? await flushAndReport.call(this) : await syncUsers.call(this);
		} catch (error) {
			const nodeError = toNodeError(this.getNode(), error);
			if (this.continueOnFail()) {
				const items = this.getInputData();
				return [[{ json: { error: nodeError.message }, pairedItem: items.map((_, item) => ({ item })) }], []];
			}
			throw nodeError;
		}
	}
}
