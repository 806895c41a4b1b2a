/**
 * The same users through the TikTok Batch Sync node run by n8n-core's WorkflowExecute (test/harness/n8n.ts):
 * real parameter resolution, the node's hashing, the process-wide coordinator, the journal written into static
 * data at every execution end, and the items out. Several executions run at once, as webhooks would.
 */
import { mkdirSync, rmSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { getCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { DEMO } from '../../test/tiktok-local/server';
import { ADVERTISER_ID, cpuShare, resetServer, serverCpu, serverStats, type ServerUrls } from '../lib/local';
import { cpuSince, wallNow } from '../lib/stats';
import { emailOf } from '../lib/users';

export interface NodeArgs {
	executions: number;
	usersPerExecution: number;
	concurrency: number;
	benchMode: boolean;
}

export interface NodeResult {
	executions: number;
	usersPerExecution: number;
	concurrency: number;
	users: number;
	seconds: number;
	usersPerSecond: number;
	synced: number;
	memberCount: number;
	mappingRequests: number;
	maxRequestsPerSecond: number;
	rateLimited: number;
	clientCpuShare: number;
	clientCpuUsPerUser: number;
	serverCpuShare: number;
	/** Median wall time of one execution. */
	medianExecutionMs: number;
	staticDataBytesAtEnd: number;
}

const BATCH_TYPE = 'n8n-nodes-tiktok-audience-sync.tikTokBatchSync';
const USERS_TYPE = 'bench.users';

/** A start node that emits users [start, start + count) as items ({email, plan}), without a giant JSON parameter. */
class BenchUsers implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Bench Users',
		name: 'benchUsers',
		group: ['input'],
		version: 1,
		description: 'Emits generated users',
		defaults: { name: 'Users' },
		inputs: ['main'],
		outputs: ['main'],
		properties: [
			{ displayName: 'Start', name: 'start', type: 'number', default: 0 },
			{ displayName: 'Count', name: 'count', type: 'number', default: 0 },
		],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const start = this.getNodeParameter('start', 0) as number;
		const count = this.getNodeParameter('count', 0) as number;
		const items: INodeExecutionData[] = new Array(count);
		for (let i = 0; i < count; i++) items[i] = { json: { email: emailOf(start + i), plan: 'pro' }, pairedItem: { item: 0 } };
		return [items];
	}
}

/**
 * The harness imports `…/TikTokBatchSync.node`, which jest resolves to the .ts file; Node's resolver (under tsx)
 * would pick the codex file `TikTokBatchSync.node.json` first. Prefer the .ts source for such imports.
 */
function preferNodeSources(): void {
	type Resolve = (request: string, parent: unknown, ...rest: unknown[]) => string;
	const loader = Module as unknown as { _resolveFilename: Resolve };
	const resolve = loader._resolveFilename;
	loader._resolveFilename = function (this: unknown, request: string, parent: unknown, ...rest: unknown[]): string {
		if (request.endsWith('.node')) {
			try {
				return resolve.call(this, `${request}.ts`, parent, ...rest);
			} catch {
				// not one of ours: resolve as asked
			}
		}
		return resolve.call(this, request, parent, ...rest);
	};
}

export async function runNode(urls: ServerUrls, args: NodeArgs): Promise<NodeResult> {
	preferNodeSources();
	// n8n-core reads these when it loads (InstanceSettings writes <N8N_USER_FOLDER>/.n8n/config).
	const folder = join(tmpdir(), `n8n-tiktok-audience-sync-bench-${process.pid}`);
	mkdirSync(folder, { recursive: true });
	process.env.N8N_USER_FOLDER = folder;
	process.env.N8N_ENCRYPTION_KEY = 'tiktok-audience-sync-bench-key';
	process.env.N8N_LOG_LEVEL = 'silent';
	const harness = await import('../../test/harness/n8n');
	harness.registerNodeType(USERS_TYPE, () => new BenchUsers());

	const audienceId = await resetServer(urls, args.benchMode);
	resetPacers();
	getCoordinator().reset();
	const credentials = {
		tikTokBusinessApi: { accessToken: DEMO.accessToken, appId: DEMO.appId, secret: DEMO.secret, environment: 'custom', baseUrl: urls.url },
	};
	const batchNode: INode = {
		id: 'batch',
		name: 'TikTok Batch Sync',
		type: BATCH_TYPE,
		typeVersion: 1,
		position: [200, 0],
		parameters: {
			authentication: 'accessToken',
			operation: 'sync',
			action: 'add',
			advertiserId: { __rl: true, mode: 'id', value: ADVERTISER_ID },
			audienceSelection: 'existing',
			audienceId: { __rl: true, mode: 'id', value: audienceId },
			matchFields: ['email'],
			// Defaults otherwise: 5 s window, 10,000 users per request, 50 requests/s, wait for delivery.
			options: {},
		},
		credentials: { tikTokBusinessApi: { id: '1', name: 'TikTok' } },
	};
	// One workflow's static data, loaded and saved whole around each execution as n8n does (JSON in the database).
	let savedStaticData = '{}';
	const execute = async (index: number) => {
		const started = wallNow();
		const usersNode: INode = {
			id: 'users',
			name: 'Users',
			type: USERS_TYPE,
			typeVersion: 1,
			position: [0, 0],
			parameters: { start: index * args.usersPerExecution, count: args.usersPerExecution },
		};
		const { run, staticData } = await harness.runWorkflow({
			nodes: [usersNode, batchNode],
			connections: harness.chain('Users', 'TikTok Batch Sync'),
			credentials,
			staticData: JSON.parse(savedStaticData) as IDataObject,
			mode: 'webhook',
			workflowId: 'wf-bench',
		});
		if (run.data.resultData.error) throw new Error(`execution ${index} failed: ${run.data.resultData.error.message}`);
		const metrics = harness.outputOf(run, 'TikTok Batch Sync', 0)[0].json;
		if (metrics.synced !== args.usersPerExecution) throw new Error(`execution ${index}: ${JSON.stringify(metrics)}`);
		savedStaticData = JSON.stringify(staticData);
		return wallNow() - started;
	};

	await execute(args.executions); // warm-up execution (users outside the measured range), not counted
	const serverBefore = await serverCpu(urls);
	const statsBefore = await serverStats(urls);
	const cpuBefore = process.cpuUsage();
	const started = wallNow();
	const durations: number[] = [];
	let next = 0;
	await Promise.all(
		Array.from({ length: args.concurrency }, async () => {
			while (next < args.executions) durations.push(await execute(next++));
		}),
	);
	const seconds = (wallNow() - started) / 1000;
	const clientCpuUs = cpuSince(cpuBefore);
	const serverAfter = await serverCpu(urls);
	const stats = await serverStats(urls);
	const users = args.executions * args.usersPerExecution;
	const counters = await getCoordinator().report('wf-bench:TikTok Batch Sync');
	getCoordinator().reset();
	rmSync(folder, { recursive: true, force: true });
	durations.sort((a, b) => a - b);
	return {
		executions: args.executions,
		usersPerExecution: args.usersPerExecution,
		concurrency: args.concurrency,
		users,
		seconds,
		usersPerSecond: users / seconds,
		synced: counters.synced - args.usersPerExecution,
		memberCount: (stats.audiences.find((audience) => audience.id === audienceId)?.memberCount ?? 0) - args.usersPerExecution,
		mappingRequests: stats.mappingRequests - statsBefore.mappingRequests,
		maxRequestsPerSecond: stats.maxRequestsPerSecond,
		rateLimited: stats.rejectedRateLimited,
		clientCpuShare: clientCpuUs / 1000 / (seconds * 1000),
		clientCpuUsPerUser: clientCpuUs / users,
		serverCpuShare: cpuShare(serverBefore, serverAfter),
		medianExecutionMs: durations[Math.floor(durations.length / 2)],
		staticDataBytesAtEnd: Buffer.byteLength(savedStaticData),
	};
}
