import type { IExecuteFunctions, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { toNodeError } from '../shared/errors';
import { fixedParameter } from '../shared/fastParameters';
import { searchAdvertisers, searchAudiences } from '../shared/methods/listSearch';
import { flushAndReport } from './actions/flushAndReport';
import { failedRunMetrics, metricsItem } from './metrics';
import { syncUsers } from './actions/syncUsers';
import { batchSyncDescription } from './versionDescription';

export class TikTokBatchSync implements INodeType {
	description: INodeTypeDescription = batchSyncDescription;

	methods = {
		listSearch: { searchAdvertisers, searchAudiences },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = fixedParameter<string>(this, 'operation', 'sync');
		try {
			return operation === 'flush' ? await flushAndReport.call(this) : await syncUsers.call(this);
		} catch (error) {
			const nodeError = toNodeError(this.getNode(), error);
			if (this.continueOnFail()) {
				// The users were not accepted: they still proceed (marked rejected), and the metrics item still adds up.
				const items = this.getInputData();
				const reason = nodeError.message;
				const sync = operation !== 'flush';
				const metrics = failedRunMetrics(sync ? 'sync' : 'flush', reason, items.length);
				const users = sync
					? items.map((item, itemIndex) => ({
							json: { ...item.json, tiktokSync: { status: 'rejected', reason } },
							pairedItem: { item: itemIndex },
						}))
					: [];
				return [[metricsItem(metrics, items.length)], users];
			}
			throw nodeError;
		}
	}
}
