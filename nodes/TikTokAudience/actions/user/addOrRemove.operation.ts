import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import type { TikTokClient } from '../../../shared/transport/client';
import { executeMembership, membershipDescription } from './membership';

export const description = membershipDescription('addOrRemove');

export async function execute(this: IExecuteFunctions, client: TikTokClient): Promise<INodeExecutionData[]> {
	return await executeMembership.call(this, client, 'addOrRemove');
}
