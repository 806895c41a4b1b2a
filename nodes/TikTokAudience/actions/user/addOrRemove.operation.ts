import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { executeMembership, membershipDescription } from './membership';

export const description = membershipDescription('addOrRemove');

export async function execute(this: IExecuteFunctions, client: TikTokClient, state: SharedState): Promise<INodeExecutionData[]> {
	return await executeMembership.call(this, client, 'addOrRemove', state);
}
