/**
 * Runs real workflows through n8n-core's execution engine (WorkflowExecute) inside jest: our node classes, real
 * expressions, real parameter resolution, real static data, real error serialisation. Only the server parts (DB,
 * encryption, UI) are replaced: credentials come from fixtures.
 *
 * Written for this package; n8n's own harness is internal to its monorepo.
 */
import { ExecutionLifecycleHooks, LoadOptionsContext, WorkflowExecute } from 'n8n-core';
import {
	ICredentialsHelper,
	NodeHelpers,
	Workflow,
	type ICredentialDataDecryptedObject,
	type ICredentials,
	type IDataObject,
	type IExecuteFunctions,
	type IHttpRequestOptions,
	type ILoadOptionsFunctions,
	type INode,
	type INodeCredentialsDetails,
	type INodeExecutionData,
	type INodeProperties,
	type INodeType,
	type INodeTypeDescription,
	type INodeTypes,
	type IRun,
	type IVersionedNodeType,
	type IWorkflowBase,
	type IWorkflowExecuteAdditionalData,
	type WorkflowExecuteMode,
	type IConnections,
} from 'n8n-workflow';

import { TikTokAudience } from '../../nodes/TikTokAudience/TikTokAudience.node';
import { TikTokBatchSync } from '../../nodes/TikTokBatchSync/TikTokBatchSync.node';

/** A start node for tests: it emits the items given in its `items` parameter (a JSON array of objects). */
class TestItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Test Items',
		name: 'testItems',
		group: ['input'],
		version: 1,
		description: 'Emits fixed items',
		defaults: { name: 'Items' },
		inputs: ['main'],
		outputs: ['main'],
		properties: [{ displayName: 'Items', name: 'items', type: 'json', default: '[]' }],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const raw = this.getNodeParameter('items', 0) as unknown;
		const items = (typeof raw === 'string' ? JSON.parse(raw) : raw) as IDataObject[];
		return [items.map((json) => ({ json, pairedItem: { item: 0 } }))];
	}
}

const nodeClasses: Record<string, () => INodeType | IVersionedNodeType> = {
	'n8n-nodes-tiktok-audience-sync.tikTokAudience': () => new TikTokAudience(),
	'n8n-nodes-tiktok-audience-sync.tikTokBatchSync': () => new TikTokBatchSync(),
	'test.items': () => new TestItems(),
};

/** Register more node types (the Batch Sync node registers itself from its own test helper). */
export function registerNodeType(type: string, create: () => INodeType | IVersionedNodeType): void {
	nodeClasses[type] = create;
}

class TestNodeTypes implements INodeTypes {
	private readonly instances = new Map<string, INodeType | IVersionedNodeType>();

	getByName(nodeType: string): INodeType | IVersionedNodeType {
		let instance = this.instances.get(nodeType);
		if (!instance) {
			const create = nodeClasses[nodeType];
			if (!create) throw new Error(`Unknown node type in test workflow: ${nodeType}`);
			instance = create();
			this.instances.set(nodeType, instance);
		}
		return instance;
	}

	getByNameAndVersion(nodeType: string, version?: number): INodeType {
		return NodeHelpers.getVersionedNodeType(this.getByName(nodeType), version);
	}

	getKnownTypes(): IDataObject {
		return {};
	}
}

export type CredentialFixtures = Record<string, ICredentialDataDecryptedObject>;

/** Credentials straight from fixtures, keyed by credential type (no encryption, no database). */
class FixtureCredentialsHelper extends ICredentialsHelper {
	constructor(private readonly fixtures: CredentialFixtures) {
		super();
	}

	getParentTypes(): string[] {
		return [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	async authenticate(_credentials: ICredentialDataDecryptedObject, _type: string, requestOptions: IHttpRequestOptions): Promise<IHttpRequestOptions> {
		// The nodes call TikTok through their own transport; nothing goes through n8n's authenticated request helper.
		return requestOptions;
	}

	async preAuthentication(): Promise<undefined> {
		return undefined;
	}

	async runPreAuthentication(): Promise<undefined> {
		return undefined;
	}

	async getCredentials(_details: INodeCredentialsDetails, _type: string): Promise<ICredentials> {
		throw new Error('not used by the engine in these tests');
	}

	async getDecrypted(_additionalData: IWorkflowExecuteAdditionalData, _details: INodeCredentialsDetails, type: string): Promise<ICredentialDataDecryptedObject> {
		const fixture = this.fixtures[type];
		if (!fixture) throw new Error(`No fixture for credential type ${type}`);
		return structuredClone(fixture);
	}

	async updateCredentials(): Promise<void> {}

	async updateCredentialsOauthTokenData(): Promise<void> {}

	getCredentialsProperties(): INodeProperties[] {
		return [];
	}
}

const BASE_URL = 'http://127.0.0.1:5678';

/** What n8n-core needs around an execution; URLs must be absolute (n8n builds $execution.resumeUrl from them). */
function createAdditionalData(
	credentials: CredentialFixtures,
	executionId: string,
	hooks?: ExecutionLifecycleHooks,
	currentNodeParameters?: INode['parameters'],
): IWorkflowExecuteAdditionalData {
	return {
		hooks,
		credentialsHelper: new FixtureCredentialsHelper(credentials),
		executionId,
		currentNodeExecutionIndex: 0,
		currentNodeParameters,
		variables: {},
		restApiUrl: `${BASE_URL}/rest`,
		instanceBaseUrl: BASE_URL,
		formBaseUrl: `${BASE_URL}/form`,
		formWaitingBaseUrl: `${BASE_URL}/form-waiting`,
		formTestBaseUrl: `${BASE_URL}/form-test`,
		webhookBaseUrl: `${BASE_URL}/webhook`,
		webhookWaitingBaseUrl: `${BASE_URL}/webhook-waiting`,
		webhookTestBaseUrl: `${BASE_URL}/webhook-test`,
		mcpBaseUrl: `${BASE_URL}/mcp`,
		mcpTestBaseUrl: `${BASE_URL}/mcp-test`,
		executeWorkflow: async () => {
			throw new Error('sub-workflows are not used in these tests');
		},
		startRunnerTask: async () => {
			throw new Error('task runners are not used in these tests');
		},
		getRunExecutionData: async () => undefined,
		getRuntimeCredential: async () => undefined,
		logAiEvent: () => undefined,
	} as unknown as IWorkflowExecuteAdditionalData;
}

/**
 * n8n-core's own context for a node's list-search and load-options methods, as the editor calls them while the
 * user edits `node`'s parameter at `parameterPath` (e.g. 'parameters.audienceId').
 */
export function loadOptionsContext(node: INode, credentials: CredentialFixtures, parameterPath: string): ILoadOptionsFunctions {
	const workflow = new Workflow({
		id: 'wf-load-options',
		name: 'test',
		nodes: [node],
		connections: {},
		active: false,
		nodeTypes: new TestNodeTypes(),
		settings: { executionOrder: 'v1' },
	});
	const additionalData = createAdditionalData(credentials, 'load-options', undefined, node.parameters);
	return new LoadOptionsContext(workflow, workflow.getNode(node.name) ?? node, additionalData, parameterPath);
}

let executionCounter = 0;

export interface RunOptions {
	nodes: INode[];
	connections: IConnections;
	credentials?: CredentialFixtures;
	staticData?: IDataObject;
	mode?: WorkflowExecuteMode;
	workflowId?: string;
}

export interface RunResult {
	run: IRun;
	staticData: IDataObject;
	workflow: Workflow;
}

export async function runWorkflow(options: RunOptions): Promise<RunResult> {
	const workflowId = options.workflowId ?? 'wf-test';
	const mode = options.mode ?? 'manual';
	const executionId = String(++executionCounter);
	const nodeTypes = new TestNodeTypes();
	const workflow = new Workflow({
		id: workflowId,
		name: 'test',
		nodes: options.nodes,
		connections: options.connections,
		active: false,
		nodeTypes,
		staticData: options.staticData ?? {},
		settings: { executionOrder: 'v1' },
	});
	const workflowData: IWorkflowBase = {
		id: workflowId,
		name: 'test',
		nodes: options.nodes,
		connections: options.connections,
		active: false,
		isArchived: false,
		activeVersionId: null,
		createdAt: new Date(),
		updatedAt: new Date(),
		settings: { executionOrder: 'v1' },
	} as IWorkflowBase;
	const hooks = new ExecutionLifecycleHooks(mode, executionId, workflowData);
	const additionalData = createAdditionalData(options.credentials ?? {}, executionId, hooks);
	// The first node starts the run (our test start node is a regular node, not a trigger).
	const startNode = workflow.getNode(options.nodes[0].name) ?? undefined;
	const run = await new WorkflowExecute(additionalData, mode).run({ workflow, startNode });
	return { run, staticData: workflow.staticData, workflow };
}

/** The items a node emitted on one output in its last run. */
export function outputOf(run: IRun, nodeName: string, outputIndex = 0): INodeExecutionData[] {
	const runs = run.data.resultData.runData[nodeName];
	if (!runs?.length) throw new Error(`Node ${nodeName} did not run`);
	return runs[runs.length - 1].data?.main?.[outputIndex] ?? [];
}

/** Connect nodes in a line: chain('A','B','C'). */
export function chain(...names: string[]): IConnections {
	const connections: IConnections = {};
	for (let i = 0; i < names.length - 1; i++) {
		connections[names[i]] = { main: [[{ node: names[i + 1], type: 'main', index: 0 }]] };
	}
	return connections;
}

export function itemsNode(items: IDataObject[], name = 'Items'): INode {
	return {
		id: `node-${name}`,
		name,
		type: 'test.items',
		typeVersion: 1,
		position: [0, 0],
		parameters: { items: JSON.stringify(items) },
	};
}

let nodeCounter = 0;

export function node(type: string, parameters: INode['parameters'], options: Partial<INode> = {}): INode {
	const name = options.name ?? `Node ${++nodeCounter}`;
	return {
		id: `node-${name}`,
		name,
		type,
		typeVersion: 1,
		position: [200, 0],
		parameters,
		...options,
	};
}
