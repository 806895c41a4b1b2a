import { NodeOperationError, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';

import { getClient } from '../../shared/connection';
import { toNodeError } from '../../shared/errors';
import { sharedStateFor, type SharedState } from '../../shared/sharedState';
import type { TikTokClient } from '../../shared/transport/client';
import * as audience from './audience/Audience.resource';
import * as user from './user/User.resource';

/** An operation gets the TikTok client and the process's shared state (queue mode: Redis for names, budget, memory). */
type Operation = (this: IExecuteFunctions, client: TikTokClient, state: SharedState) => Promise<INodeExecutionData[]>;

const operations: Record<string, Record<string, { execute: Operation }>> = {
	audience: { create: audience.create, delete: audience.delete, get: audience.get, getMany: audience.getMany },
	user: { add: user.add, addOrRemove: user.addOrRemove, forgetMirror: user.forgetMirror, mirror: user.mirror, remove: user.remove },
};

export async function router(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const resource = this.getNodeParameter('resource', 0) as string;
	const operation = this.getNodeParameter('operation', 0) as string;
	const handler = operations[resource]?.[operation];
	if (!handler) {
		throw new NodeOperationError(this.getNode(), `The operation "${operation}" of "${resource}" is not supported`);
	}
	// In queue mode its requests share the TikTok app's 50/s budget with every worker (through Redis).
	const state = await sharedStateFor(this);
	let client: TikTokClient;
	try {
		client = await getClient(this);
	} catch (error) {
		throw toNodeError(this.getNode(), error);
	}
	return [await handler.execute.call(this, client, state)];
}
