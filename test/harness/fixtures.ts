import type { IDataObject, INode } from 'n8n-workflow';

import type { CredentialFixtures } from './n8n';
import { DEMO, type TikTokLocal } from '../tiktok-local/server';

/** Fixtures for running this package's nodes against the local TikTok API (node tests and reliability tests). */

export const US = DEMO.advertisers[0].id;
export const EU = DEMO.advertisers[1].id;

export const BATCH_TYPE = 'n8n-nodes-tiktok-audience-sync.tikTokBatchSync';
export const AUDIENCE_TYPE = 'n8n-nodes-tiktok-audience-sync.tikTokAudience';
export const BATCH_NODE_NAME = 'TikTok Batch Sync';

export const locator = (value: string) => ({ __rl: true, mode: 'id', value });


export function accessTokenCredentials(local: TikTokLocal, token: string = DEMO.accessToken): CredentialFixtures {
	return {
		tikTokBusinessApi: { accessToken: token, appId: DEMO.appId, secret: DEMO.secret, environment: 'custom', baseUrl: local.url },
	};
}

/** Creates an audience straight through the local API (not through the code under test). */
export async function createAudience(local: TikTokLocal, name: string, advertiserId = US): Promise<string> {
	const response = await fetch(`${local.url}/open_api/v1.3/segment/audience/`, {
		method: 'POST',
		headers: { 'Access-Token': DEMO.accessToken, 'Content-Type': 'application/json' },
		body: JSON.stringify({ advertiser_id: advertiserId, action: 'create', custom_audience_name: name }),
	});
	const body = (await response.json()) as { code: number; data: { audience_id: string } };
	if (body.code !== 0) throw new Error(`could not create audience ${name}: ${JSON.stringify(body)}`);
	return body.data.audience_id;
}

/** A node of this package using the access-token credential. */
function packageNode(type: string, id: string, name: string, parameters: IDataObject, extra: Partial<INode>): INode {
	return {
		id,
		name,
		type,
		typeVersion: 1,
		position: [200, 0],
		parameters: { authentication: 'accessToken', ...parameters } as INode['parameters'],
		credentials: { tikTokBusinessApi: { id: '1', name: 'TikTok' } },
		...extra,
	};
}

export function batchNode(parameters: IDataObject, extra: Partial<INode> = {}): INode {
	return packageNode(BATCH_TYPE, 'batch', BATCH_NODE_NAME, parameters, extra);
}

export function audienceNode(parameters: IDataObject, extra: Partial<INode> = {}): INode {
	return packageNode(AUDIENCE_TYPE, 'tiktok', 'TikTok Audience', parameters, extra);
}

export function syncParameters(audienceId: string, options: IDataObject = {}, extra: IDataObject = {}): IDataObject {
	return {
		operation: 'sync',
		action: 'add',
		advertiserId: locator(US),
		audienceSelection: 'existing',
		audienceId: locator(audienceId),
		matchFields: ['email'],
		options: { windowSeconds: 0, ...options },
		...extra,
	};
}

export function addParameters(audienceId: string, extra: IDataObject = {}): IDataObject {
	return {
		resource: 'user',
		operation: 'add',
		advertiserId: locator(US),
		audienceSelection: 'existing',
		audienceId: locator(audienceId),
		matchFields: ['email'],
		...extra,
	};
}

export function expectInvariant(counters: IDataObject): void {
	expect(counters.entered).toBe(
		(counters.synced as number) + (counters.notSynced as number) + (counters.pending as number) + (counters.errored as number),
	);
}

