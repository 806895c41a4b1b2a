/**
 * A small client for a real n8n (1.x and 2.x): the internal REST API (/rest, session cookie) for owner setup,
 * API keys, node types, manual runs and OAuth; the public API (/api/v1, X-N8N-API-KEY) for credentials,
 * workflows and executions; and production/test webhooks.
 */
import { sleep } from './net';

export class N8nHttpError extends Error {
	constructor(
		readonly method: string,
		readonly url: string,
		readonly status: number,
		readonly body: string,
	) {
		super(`${method} ${url} → HTTP ${status}: ${body.slice(0, 500)}`);
		this.name = 'N8nHttpError';
	}
}

export interface OwnerAccount {
	email: string;
	password: string;
	firstName: string;
	lastName: string;
}

export const DEFAULT_OWNER: OwnerAccount = {
	email: 'e2e-owner@example.com',
	password: 'E2eOwnerPassw0rd!',
	firstName: 'E2E',
	lastName: 'Owner',
};

export interface WorkflowNode {
	id?: string;
	name: string;
	type: string;
	typeVersion: number;
	position: [number, number];
	parameters: Record<string, unknown>;
	credentials?: Record<string, { id: string; name: string }>;
	webhookId?: string;
	disabled?: boolean;
	[key: string]: unknown;
}

export type WorkflowConnections = Record<string, { main: Array<Array<{ node: string; type: 'main'; index: number }>> }>;

/** What the public API accepts when creating or updating a workflow. */
export interface WorkflowInput {
	name: string;
	nodes: WorkflowNode[];
	connections: WorkflowConnections;
	settings?: Record<string, unknown>;
	staticData?: Record<string, unknown> | null;
}

export interface Workflow extends WorkflowInput {
	id: string;
	active: boolean;
	versionId?: string;
	activeVersionId?: string | null;
	staticData?: Record<string, unknown> | null;
	[key: string]: unknown;
}

export interface CredentialInput {
	name: string;
	type: string;
	data: Record<string, unknown>;
}

export interface Credential {
	id: string;
	name: string;
	type: string;
	[key: string]: unknown;
}

export type ExecutionStatus = 'new' | 'running' | 'success' | 'error' | 'canceled' | 'crashed' | 'waiting' | 'unknown';

export interface NodeRun {
	startTime?: number;
	executionTime?: number;
	executionStatus?: string;
	data?: { main?: Array<Array<{ json: Record<string, unknown>; binary?: unknown; pairedItem?: unknown }> | null> };
	error?: { message?: string; description?: string; name?: string; [key: string]: unknown };
	[key: string]: unknown;
}

export interface Execution {
	id: string;
	finished: boolean;
	mode: string;
	status: ExecutionStatus;
	startedAt: string;
	stoppedAt?: string | null;
	workflowId: string;
	data?: {
		resultData: {
			runData: Record<string, NodeRun[]>;
			error?: { message?: string; [key: string]: unknown };
			lastNodeExecuted?: string;
		};
		[key: string]: unknown;
	};
	[key: string]: unknown;
}

export interface WebhookResponse {
	status: number;
	headers: Headers;
	/** Parsed JSON when the answer is JSON, else the text. */
	body: any;
	text: string;
}

export interface OAuth2ConnectResult {
	/** The provider URL n8n built (GET /rest/oauth2-credential/auth). */
	authUrl: string;
	/** Every URL requested on the provider side, in order. */
	providerHops: string[];
	/** n8n's callback URL the provider redirected to (with code/auth_code and state). */
	callbackUrl: string;
	callbackStatus: number;
	callbackBody: string;
	/** The callback page reported success (n8n renders "Connection successful" or an error page). */
	success: boolean;
}

const TERMINAL_STATUSES: ExecutionStatus[] = ['success', 'error', 'canceled', 'crashed'];

/**
 * Finished, and (when data was asked for) with its run data written: n8n 1.x writes the status and the run data in
 * two separate updates, so a poll can see "success" without data for a moment.
 */
function isFinished(execution: Execution, withData: boolean): boolean {
	if (!TERMINAL_STATUSES.includes(execution.status)) return false;
	return !withData || execution.status === 'crashed' || execution.data?.resultData?.runData !== undefined;
}

export class N8nClient {
	/** Session cookie (n8n-auth=…) for /rest and /types; set by setupOwner() / login(). */
	cookie: string | undefined;
	/** Public API key; set by createApiKey(). */
	apiKey: string | undefined;

	constructor(
		readonly baseUrl: string,
		auth: { cookie?: string; apiKey?: string } = {},
	) {
		this.cookie = auth.cookie;
		this.apiKey = auth.apiKey;
	}

	// ----------------------------------------------------------------------------------------------- plumbing

	private async request(
		method: string,
		url: string,
		opts: { body?: unknown; headers?: Record<string, string>; redirect?: 'follow' | 'manual' | 'error'; timeoutMs?: number } = {},
	): Promise<Response> {
		const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
		let body: string | undefined;
		if (opts.body !== undefined) {
			headers['content-type'] = 'application/json';
			body = JSON.stringify(opts.body);
		}
		return fetch(url, { method, headers, body, redirect: opts.redirect ?? 'follow', signal: AbortSignal.timeout(opts.timeoutMs ?? 60_000) });
	}

	private async json<T>(method: string, url: string, opts: Parameters<N8nClient['request']>[2] = {}): Promise<T> {
		const response = await this.request(method, url, opts);
		const text = await response.text();
		if (!response.ok) throw new N8nHttpError(method, url, response.status, text);
		return (text ? JSON.parse(text) : undefined) as T;
	}

	private cookieHeaders(): Record<string, string> {
		if (!this.cookie) throw new Error('no n8n session: call setupOwner() or login() first');
		return { cookie: this.cookie };
	}

	/** Internal REST API (cookie auth); unwraps n8n's `{ data }` envelope. `path` starts with /rest/ or /types/. */
	async rest<T = any>(method: string, path: string, body?: unknown): Promise<T> {
		const result = await this.json<any>(method, this.baseUrl + path, { body, headers: this.cookieHeaders() });
		return result && typeof result === 'object' && 'data' in result && Object.keys(result).length === 1 ? result.data : result;
	}

	/** Public API (X-N8N-API-KEY). `path` is relative to /api/v1, e.g. "/workflows". */
	async api<T = any>(method: string, path: string, body?: unknown): Promise<T> {
		if (!this.apiKey) throw new Error('no API key: call createApiKey() first');
		return this.json<T>(method, `${this.baseUrl}/api/v1${path}`, { body, headers: { 'X-N8N-API-KEY': this.apiKey } });
	}

	private takeCookie(response: Response): void {
		const cookies = response.headers.getSetCookie?.() ?? [];
		const auth = cookies.map((c) => c.split(';')[0]).find((c) => c.startsWith('n8n-auth='));
		if (!auth) throw new Error(`n8n did not set the n8n-auth cookie (HTTP ${response.status})`);
		this.cookie = auth;
	}

	// ----------------------------------------------------------------------------------------------- users

	/** POST /rest/owner/setup (only works once, on a fresh DB); keeps the session cookie. */
	async setupOwner(owner: OwnerAccount = DEFAULT_OWNER): Promise<OwnerAccount> {
		const url = `${this.baseUrl}/rest/owner/setup`;
		const response = await this.request('POST', url, { body: owner });
		if (!response.ok) throw new N8nHttpError('POST', url, response.status, await response.text());
		await response.arrayBuffer();
		this.takeCookie(response);
		return owner;
	}

	/** POST /rest/login; keeps the session cookie. */
	async login(email: string, password: string): Promise<void> {
		const url = `${this.baseUrl}/rest/login`;
		// 1.x and 2.x take emailOrLdapLoginId; older 1.x took email
		const response = await this.request('POST', url, { body: { emailOrLdapLoginId: email, email, password } });
		if (!response.ok) throw new N8nHttpError('POST', url, response.status, await response.text());
		await response.arrayBuffer();
		this.takeCookie(response);
	}

	/** Creates a public-API key with every scope the instance offers; keeps it for api(). */
	async createApiKey(label = `e2e-${Date.now()}`): Promise<string> {
		const scopes = await this.rest<string[]>('GET', '/rest/api-keys/scopes');
		const created = await this.rest<{ rawApiKey?: string; apiKey?: string }>('POST', '/rest/api-keys', { label, expiresAt: null, scopes });
		const key = created.rawApiKey ?? created.apiKey;
		if (!key) throw new Error(`n8n returned no API key: ${JSON.stringify(created)}`);
		this.apiKey = key;
		return key;
	}

	/** GET /rest/settings: with the session the full set (versionCli, …), without it only the public part (2.x). */
	async settings(): Promise<Record<string, any>> {
		const result = await this.json<any>('GET', `${this.baseUrl}/rest/settings`, { headers: this.cookie ? { cookie: this.cookie } : {} });
		return result.data ?? result;
	}

	// ----------------------------------------------------------------------------------------------- types

	/** Every node type description the instance loaded (GET /types/nodes.json). Names look like "<package>.<node>". */
	async getNodeTypes(): Promise<Array<{ name: string; displayName: string; version: number | number[]; [key: string]: unknown }>> {
		return this.json('GET', `${this.baseUrl}/types/nodes.json`, { headers: this.cookieHeaders() });
	}

	/** Every credential type the instance loaded (GET /types/credentials.json). */
	async getCredentialTypes(): Promise<Array<{ name: string; displayName: string; [key: string]: unknown }>> {
		return this.json('GET', `${this.baseUrl}/types/credentials.json`, { headers: this.cookieHeaders() });
	}

	/** Full descriptions of given node types (POST /rest/node-types), as the editor loads them. */
	async getNodeTypeDescriptions(nodeInfos: Array<{ name: string; version: number }>): Promise<any[]> {
		return this.rest('POST', '/rest/node-types', { nodeInfos });
	}

	// ----------------------------------------------------------------------------------------------- credentials

	/**
	 * Create a credential. `via: 'api'` = POST /api/v1/credentials (for OAuth2 types `data.oauthTokenData` may be
	 * given to skip the Connect dance); `'rest'` = POST /rest/credentials as the editor does; `'auto'` (default)
	 * tries the public API and falls back to REST when it rejects the data against its schema (n8n 1.x demands
	 * every oAuth2Api field, e.g. serverUrl, for OAuth2 credential types).
	 */
	async createCredential(input: CredentialInput, opts: { via?: 'api' | 'rest' | 'auto' } = {}): Promise<Credential> {
		const via = opts.via ?? 'auto';
		if (via === 'rest') return this.rest('POST', '/rest/credentials', input);
		try {
			return await this.api('POST', '/credentials', input);
		} catch (error) {
			if (via === 'auto' && error instanceof N8nHttpError && error.status === 400 && /schema/.test(error.body)) {
				return this.rest('POST', '/rest/credentials', input);
			}
			throw error;
		}
	}

	async deleteCredential(id: string): Promise<void> {
		await this.api('DELETE', `/credentials/${id}`);
	}

	/** GET /rest/credentials/:id (secrets are redacted; OAuth token data shows as `oauthTokenData: true`). */
	async getCredential(id: string, includeData = true): Promise<any> {
		return this.rest('GET', `/rest/credentials/${id}${includeData ? '?includeData=true' : ''}`);
	}

	// ----------------------------------------------------------------------------------------------- workflows

	async createWorkflow(workflow: WorkflowInput): Promise<Workflow> {
		return this.api('POST', '/workflows', publicWorkflowBody(workflow));
	}

	/** PUT /api/v1/workflows/:id. In 2.x an active workflow keeps running its published version until activated again. */
	async updateWorkflow(id: string, workflow: WorkflowInput): Promise<Workflow> {
		return this.api('PUT', `/workflows/${id}`, publicWorkflowBody(workflow));
	}

	/** GET /api/v1/workflows/:id (includes `staticData` and `active`). */
	async getWorkflow(id: string): Promise<Workflow> {
		return this.api('GET', `/workflows/${id}`);
	}

	/** Activate (2.x: publish the current version). Production webhooks may 404 for a moment: use callWebhookWhenRegistered. */
	async activateWorkflow(id: string): Promise<Workflow> {
		return this.api('POST', `/workflows/${id}/activate`);
	}

	async deactivateWorkflow(id: string): Promise<Workflow> {
		return this.api('POST', `/workflows/${id}/deactivate`);
	}

	async deleteWorkflow(id: string): Promise<void> {
		await this.api('DELETE', `/workflows/${id}`);
	}

	// ----------------------------------------------------------------------------------------------- executions

	/**
	 * Start a manual run as the editor's "Execute workflow" does (POST /rest/workflows/:id/run with the stored
	 * workflow and `triggerToStartFrom`; the same body works on 1.x and 2.x). Returns the execution id at once.
	 * `triggerNode` defaults to the workflow's Manual Trigger. `extra` is merged into the request body
	 * (e.g. `{ destinationNode }` or `{ workflowData: { ...pinData } }` overrides).
	 */
	async runManually(workflowId: string, opts: { triggerNode?: string; extra?: Record<string, unknown> } = {}): Promise<string> {
		const workflowData = await this.getWorkflow(workflowId);
		const trigger = opts.triggerNode ?? workflowData.nodes.find((n) => n.type === 'n8n-nodes-base.manualTrigger')?.name;
		if (!trigger) throw new Error(`workflow ${workflowId} has no Manual Trigger: pass triggerNode`);
		const result = await this.rest<{ executionId?: string; waitingForWebhook?: boolean }>('POST', `/rest/workflows/${workflowId}/run`, {
			workflowData,
			triggerToStartFrom: { name: trigger },
			...opts.extra,
		});
		if (!result?.executionId) throw new Error(`manual run did not start an execution: ${JSON.stringify(result)}`);
		return String(result.executionId);
	}

	/** GET /api/v1/executions/:id?includeData=true until it has finished (success, error, canceled or crashed). */
	async waitForExecution(executionId: string, opts: { timeoutMs?: number; includeData?: boolean } = {}): Promise<Execution> {
		const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
		for (;;) {
			let execution: Execution | undefined;
			try {
				execution = await this.api<Execution>('GET', `/executions/${executionId}?includeData=${opts.includeData ?? true}`);
			} catch (error) {
				// 404 right after start, before the execution row is written
				if (!(error instanceof N8nHttpError && error.status === 404)) throw error;
			}
			if (execution && isFinished(execution, opts.includeData ?? true)) return execution;
			if (Date.now() > deadline) {
				throw new Error(`execution ${executionId} did not finish within ${opts.timeoutMs ?? 120_000} ms (status ${execution?.status})`);
			}
			await sleep(250);
		}
	}

	/** GET /api/v1/executions/:id with its data, as it is now (finished or not). */
	async getExecution(executionId: string): Promise<Execution> {
		return this.api<Execution>('GET', `/executions/${executionId}?includeData=true`);
	}

	/** runManually + waitForExecution. */
	async runAndWait(workflowId: string, opts: { triggerNode?: string; extra?: Record<string, unknown>; timeoutMs?: number } = {}): Promise<Execution> {
		const id = await this.runManually(workflowId, opts);
		return this.waitForExecution(id, { timeoutMs: opts.timeoutMs });
	}

	/** GET /api/v1/executions (newest first). */
	async listExecutions(
		filter: { workflowId?: string; status?: 'success' | 'error' | 'waiting' | 'canceled' | 'running'; limit?: number; includeData?: boolean } = {},
	): Promise<Execution[]> {
		const query = new URLSearchParams();
		if (filter.workflowId) query.set('workflowId', filter.workflowId);
		if (filter.status) query.set('status', filter.status);
		query.set('limit', String(filter.limit ?? 100));
		if (filter.includeData) query.set('includeData', 'true');
		const result = await this.api<{ data: Execution[] }>('GET', `/executions?${query}`);
		return result.data;
	}

	/** Every execution matching the filter (newest first), following the public API's cursor (pages of 250 at most). */
	async listAllExecutions(filter: { workflowId?: string; status?: 'success' | 'error' | 'waiting' | 'canceled' | 'running'; includeData?: boolean } = {}): Promise<Execution[]> {
		const all: Execution[] = [];
		let cursor: string | undefined;
		do {
			const query = new URLSearchParams({ limit: '250' });
			if (filter.workflowId) query.set('workflowId', filter.workflowId);
			if (filter.status) query.set('status', filter.status);
			if (filter.includeData) query.set('includeData', 'true');
			if (cursor) query.set('cursor', cursor);
			const page = await this.api<{ data: Execution[]; nextCursor?: string | null }>('GET', `/executions?${query}`);
			all.push(...page.data);
			cursor = page.nextCursor ?? undefined;
		} while (cursor);
		return all;
	}

	/**
	 * Wait until a workflow has at least `count` finished executions (e.g. after webhook calls or a trigger), counting
	 * only those `where` accepts (e.g. `e.mode === 'webhook'`); returns those.
	 */
	async waitForExecutions(
		workflowId: string,
		count: number,
		opts: { timeoutMs?: number; includeData?: boolean; where?: (execution: Execution) => boolean } = {},
	): Promise<Execution[]> {
		const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
		for (;;) {
			const executions = (await this.listAllExecutions({ workflowId, includeData: opts.includeData })).filter((e) =>
				isFinished(e, opts.includeData ?? false) && (opts.where?.(e) ?? true),
			);
			if (executions.length >= count) return executions;
			if (Date.now() > deadline) throw new Error(`workflow ${workflowId} has ${executions.length}/${count} finished executions`);
			await sleep(300);
		}
	}

	// ----------------------------------------------------------------------------------------------- webhooks

	/** Call a webhook: production (/webhook/<path>) or, with `test: true`, the editor's test URL (/webhook-test/<path>). */
	async callWebhook(
		path: string,
		opts: { method?: string; body?: unknown; headers?: Record<string, string>; query?: Record<string, string>; test?: boolean; timeoutMs?: number } = {},
	): Promise<WebhookResponse> {
		const query = opts.query ? `?${new URLSearchParams(opts.query)}` : '';
		const url = `${this.baseUrl}/${opts.test ? 'webhook-test' : 'webhook'}/${path.replace(/^\//, '')}${query}`;
		const response = await this.request(opts.method ?? 'POST', url, { body: opts.body, headers: opts.headers, timeoutMs: opts.timeoutMs ?? 120_000 });
		const text = await response.text();
		let body: unknown = text;
		if ((response.headers.get('content-type') ?? '').includes('json') && text) {
			try {
				body = JSON.parse(text);
			} catch {
				// keep text
			}
		}
		return { status: response.status, headers: response.headers, body, text };
	}

	/** callWebhook, retried while n8n answers 404 (the webhook is registered shortly after activation). */
	async callWebhookWhenRegistered(
		path: string,
		opts: Parameters<N8nClient['callWebhook']>[1] & { registerTimeoutMs?: number } = {},
	): Promise<WebhookResponse> {
		const deadline = Date.now() + (opts.registerTimeoutMs ?? 15_000);
		for (;;) {
			const response = await this.callWebhook(path, opts);
			if (response.status !== 404 || Date.now() > deadline) return response;
			await sleep(250);
		}
	}

	/**
	 * Wait until the production webhook `path` is registered for `method`, without triggering it: a request with
	 * another method answers 404 "This webhook is not registered for GET requests. Did you mean to make a POST
	 * request?" once the path exists, and "The requested webhook … is not registered." before (1.x and 2.x).
	 */
	async waitForWebhookRegistered(path: string, opts: { method?: string; timeoutMs?: number } = {}): Promise<void> {
		const method = (opts.method ?? 'POST').toUpperCase();
		const probe = method === 'GET' ? 'DELETE' : 'GET';
		const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
		for (;;) {
			const response = await this.callWebhook(path, { method: probe, timeoutMs: 10_000 });
			if (response.status !== 404 || new RegExp(`make an? [A-Z, ]*\\b${method}\\b`).test(response.text)) return;
			if (Date.now() > deadline) throw new Error(`webhook ${method} ${path} was not registered within ${opts.timeoutMs ?? 15_000} ms: ${response.text}`);
			await sleep(200);
		}
	}

	// ----------------------------------------------------------------------------------------------- OAuth2

	/** GET /rest/oauth2-credential/auth?id=… : the provider authorisation URL n8n builds for a credential. */
	async oauth2AuthUrl(credentialId: string): Promise<string> {
		return this.rest<string>('GET', `/rest/oauth2-credential/auth?id=${encodeURIComponent(credentialId)}`);
	}

	/**
	 * The whole "Connect" dance without a browser: get the auth URL, follow the provider's redirects
	 * (no cookies on the provider side; it must redirect straight back, e.g. an auto-approving local provider)
	 * until they reach n8n's /rest/oauth2-credential/callback, then open that with the owner's session cookie.
	 */
	async oauth2Connect(credentialId: string, opts: { maxHops?: number } = {}): Promise<OAuth2ConnectResult> {
		const authUrl = await this.oauth2AuthUrl(credentialId);
		const providerHops: string[] = [];
		let next = authUrl;
		const callbackPrefix = `${this.baseUrl}/rest/oauth2-credential/callback`;
		for (let hop = 0; hop < (opts.maxHops ?? 5); hop++) {
			if (next.startsWith(callbackPrefix)) break;
			providerHops.push(next);
			const response = await fetch(next, { redirect: 'manual', signal: AbortSignal.timeout(30_000) });
			const text = await response.text();
			const location = response.headers.get('location');
			if (response.status < 300 || response.status >= 400 || !location) {
				throw new Error(`OAuth provider did not redirect (HTTP ${response.status} from ${next}): ${text.slice(0, 300)}`);
			}
			next = new URL(location, next).toString();
		}
		if (!next.startsWith(callbackPrefix)) throw new Error(`OAuth redirects never reached ${callbackPrefix}: ${providerHops.join(' → ')} → ${next}`);
		const response = await fetch(next, { headers: this.cookieHeaders(), redirect: 'manual', signal: AbortSignal.timeout(60_000) });
		const callbackBody = await response.text();
		const success = response.status === 200 && /success/i.test(callbackBody) && !/"error"|unauthori[sz]ed|failed/i.test(callbackBody);
		return { authUrl, providerHops, callbackUrl: next, callbackStatus: response.status, callbackBody, success };
	}
}

function publicWorkflowBody(workflow: WorkflowInput): WorkflowInput {
	// the public API rejects unknown properties (id, active, versionId, …)
	const body: WorkflowInput = {
		name: workflow.name,
		nodes: workflow.nodes,
		connections: workflow.connections,
		settings: workflow.settings ?? { executionOrder: 'v1' },
	};
	if (workflow.staticData !== undefined && workflow.staticData !== null) body.staticData = workflow.staticData;
	return body;
}

// --------------------------------------------------------------------------------------------------- results

/** Items (json) a node emitted on `output` in run `run` of an execution fetched with data. */
export function nodeOutput(execution: Execution, nodeName: string, opts: { output?: number; run?: number } = {}): Array<Record<string, unknown>> {
	const runs = nodeRuns(execution, nodeName);
	const run = runs[opts.run ?? 0];
	if (!run) throw new Error(`node "${nodeName}" has no run ${opts.run ?? 0} in execution ${execution.id}`);
	return (run.data?.main?.[opts.output ?? 0] ?? []).map((item) => item.json);
}

/** All runs of a node ([] when it did not run). */
export function nodeRuns(execution: Execution, nodeName: string): NodeRun[] {
	const runData = execution.data?.resultData?.runData;
	if (!runData) throw new Error(`execution ${execution.id} was fetched without data`);
	return runData[nodeName] ?? [];
}

/** The execution's error message, if any (workflow-level, else the first node error). */
export function executionError(execution: Execution): string | undefined {
	const top = execution.data?.resultData?.error?.message;
	if (top) return top;
	for (const runs of Object.values(execution.data?.resultData?.runData ?? {})) {
		for (const run of runs) if (run.error?.message) return run.error.message;
	}
	return undefined;
}
