/**
 * Local TikTok Marketing API (v1.3): a stand-in for business-api.tiktok.com that tests, the benchmark and the dev
 * script reach over real HTTP on 127.0.0.1. It follows /work/shared/docs/tiktok-marketing-api.md: TikTok's envelope
 * `{code, message, request_id, data}` with HTTP 200 for business errors, the Access-Token header, single-use auth
 * codes, Partner audiences, whole-batch mapping validation and a per-app limit of 50 requests per sliding second.
 *
 * Seed (restored by reset()):
 *   - Demo app   app_id 7000000000000000001, secret "local-demo-secret", access token "local-demo-access-token";
 *                reaches advertisers 7100000000000000001 "Demo Store US" and 7100000000000000002 "Demo Store EU".
 *   - Other app  app_id 7000000000000000002, secret "local-other-secret", access token "local-other-access-token";
 *                reaches advertiser 7100000000000000003 "Other Agency Shop" (for "not your advertiser/audience").
 *   - No audiences; audience IDs count up from 1790000000000001.
 *
 * API routes: /portal/auth (auto-approves with a 302 to redirect_uri carrying auth_code, code and state; add
 * interactive=1 for a page with an Authorize link) and /open_api/v1.3/<route>/ for the routes in routes.ts (the
 * trailing slash is optional).
 *
 * Control routes (plain JSON, not rate limited, never faulted), each mirrored by a method on TikTokLocal:
 *   GET    /__local/health                      {ok: true}
 *   GET    /__local/stats                       stats()
 *   GET    /__local/config | POST /__local/config {rateLimitPerSecond?, tokenResponseShape?, benchMode?, invalidTokenHttpStatus?}
 *   POST   /__local/reset                       reset(): seed state, start-up config, no faults, zeroed stats
 *   POST   /__local/faults  {FaultSpec}         injectFault() → {id}
 *   DELETE /__local/faults                      clearFaults()
 *   POST   /__local/tokens  {token?, appId}     addToken() → {token, appId} (a reconnect: new token, same app)
 *   POST   /__local/tokens/revoke {token}       revokeToken() → {revoked}
 *   POST   /__local/auth-codes {appId}          issueAuthCode() → {code} (skip the portal redirect)
 *   GET    /__local/audiences/:id/members       {audienceId, count, members}; ?count=1 leaves out members
 *   POST   /__local/audiences/:id/delete        deleteAudience(), as if deleted in Ads Manager → {deleted}
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { FaultInjector, faultReplacesAnswer, type FaultSpec } from './faults';
import {
	ApiFailure,
	BodyTooLargeError,
	escapeHtml,
	newRequestId,
	parseBody,
	readBody,
	sendFailure,
	sendHtml,
	sendJson,
} from './http';
import { AppRateLimiter } from './rateWindow';
import { API_ROUTES, appIdOfOAuthBody, type ApiContext, type MappingCounters, type TikTokLocalConfig } from './routes';
import { TikTokLocalStore } from './store';

export { DEMO, OTHER, SEED_APPS, MAX_AUDIENCES_PER_ADVERTISER, MAX_MAPPING_ROWS, MIN_REPORTED_AUDIENCE_SIZE } from './seed';
export type { SeedApp, SeedAdvertiser } from './seed';
export type { FaultSpec } from './faults';
export type { TikTokLocalConfig, MappingCounters } from './routes';
export { TikTokLocalStore, MAPPING_ID_TYPES } from './store';
export type { LocalAudience, LocalApp, LocalToken } from './store';

export const API_PREFIX = '/open_api/v1.3/';
export const PORTAL_AUTH_PATH = '/portal/auth';
const CONTROL_PREFIX = '/__local/';

export interface TikTokLocalOptions {
	/** 0 (the default) picks a free port. */
	port?: number;
	rateLimitPerSecond?: number;
	tokenResponseShape?: 'flat' | 'wrapped';
	benchMode?: boolean;
	invalidTokenHttpStatus?: number;
}

export interface AudienceSummary {
	id: string;
	advertiserId: string;
	name: string;
	deleted: boolean;
	memberCount: number;
}

export interface TikTokLocalStats extends MappingCounters {
	/** Every API and portal request, faulted and rate-limited ones included (control routes excluded). */
	requests: number;
	/** Requests per route ('segment/mapping/', 'portal/auth', or the raw path for unknown routes). */
	byPath: Record<string, number>;
	/** Requests answered 40100. */
	rejectedRateLimited: number;
	rejectedRateLimitedByApp: Record<string, number>;
	/** Most accepted requests in any sliding 1000 ms window, all apps together. */
	maxRequestsPerSecond: number;
	maxRequestsPerSecondByApp: Record<string, number>;
	/** Same, counting rate-limited requests too: what the clients actually sent. */
	maxAttemptedPerSecond: number;
	maxAttemptedPerSecondByApp: Record<string, number>;
	/** Requests answered (or dropped) by an injected fault instead of the real handler. */
	faultsInjected: number;
	audiences: AudienceSummary[];
}

export interface TikTokLocal {
	/** e.g. http://127.0.0.1:8787 */
	readonly url: string;
	readonly port: number;
	/** `${url}/open_api/v1.3/` */
	readonly apiUrl: string;
	/** `${url}/portal/auth` */
	readonly authUrl: string;
	/** `${url}/open_api/v1.3/oauth/token/` */
	readonly tokenUrl: string;
	readonly store: TikTokLocalStore;
	/** A copy of the current configuration. */
	readonly config: TikTokLocalConfig;
	/** Stops listening and destroys every connection, keep-alive ones included. */
	close(): Promise<void>;
	/** Returns the fault's id. */
	injectFault(spec: FaultSpec): number;
	clearFaults(): void;
	revokeToken(token: string): boolean;
	addToken(token: string, appId: string): void;
	issueAuthCode(appId: string): string;
	deleteAudience(audienceId: string): boolean;
	stats(): TikTokLocalStats;
	/** `${TYPE}:${hash}` strings (empty in bench mode, which keeps counts only). */
	members(audienceId: string): string[];
	memberCount(audienceId: string): number;
	reset(): void;
	setConfig(changes: Partial<TikTokLocalConfig>): TikTokLocalConfig;
}

const DEFAULT_CONFIG: TikTokLocalConfig = {
	rateLimitPerSecond: 50,
	tokenResponseShape: 'flat',
	benchMode: false,
	invalidTokenHttpStatus: 200,
};

/** TikTok-like default messages for injected codes. */
function defaultFaultMessage(code: number, appId: string): string {
	if (code === 40100) return `Due to too many requests, requests from App ${appId} are temporarily restricted.`;
	if (code === 40104) return 'Access token is empty.';
	if (code === 40105) return 'Access token is incorrect or has been revoked.';
	if (code === 40001) return 'No permission to operate this advertiser.';
	if (code === 40002) return 'Parameter error: invalid audience ID.';
	if (code === 60001) return 'The system is under maintenance. Please try again later.';
	if (code >= 50000) return 'System error. Please try again later.';
	return 'Injected error.';
}

/** When only an HTTP status is injected, the body still carries a matching envelope code. */
function codeForHttpStatus(status: number): number {
	if (status === 429) return 40100;
	if (status === 401 || status === 403) return 40105;
	if (status >= 500) return 50000;
	return 40000;
}

function edgeErrorPage(status: number): string {
	return `<!DOCTYPE html>\n<html><head><title>${status} Error</title></head><body><center><h1>${status} Error</h1></center><hr><center>edge-proxy</center></body></html>\n`;
}

/** `/open_api/v1.3/segment/mapping` → `segment/mapping/`; undefined outside the API prefix. */
function apiRouteKey(path: string): string | undefined {
	if (!path.startsWith(API_PREFIX)) return undefined;
	const rest = path.slice(API_PREFIX.length);
	return rest.endsWith('/') ? rest : `${rest}/`;
}

function isPortalPath(path: string): boolean {
	return path === PORTAL_AUTH_PATH || path === `${PORTAL_AUTH_PATH}/`;
}

function validateConfigChanges(changes: unknown): Partial<TikTokLocalConfig> {
	if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) throw new Error('Config must be a JSON object');
	const input = changes as Record<string, unknown>;
	const result: Partial<TikTokLocalConfig> = {};
	if (input.rateLimitPerSecond !== undefined) {
		if (typeof input.rateLimitPerSecond !== 'number' || !(input.rateLimitPerSecond > 0)) {
			throw new Error('rateLimitPerSecond must be a positive number');
		}
		result.rateLimitPerSecond = input.rateLimitPerSecond;
	}
	if (input.tokenResponseShape !== undefined) {
		if (input.tokenResponseShape !== 'flat' && input.tokenResponseShape !== 'wrapped') {
			throw new Error('tokenResponseShape must be "flat" or "wrapped"');
		}
		result.tokenResponseShape = input.tokenResponseShape;
	}
	if (input.benchMode !== undefined) {
		if (typeof input.benchMode !== 'boolean') throw new Error('benchMode must be a boolean');
		result.benchMode = input.benchMode;
	}
	if (input.invalidTokenHttpStatus !== undefined) {
		const status = input.invalidTokenHttpStatus;
		if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
			throw new Error('invalidTokenHttpStatus must be an HTTP status code');
		}
		result.invalidTokenHttpStatus = status;
	}
	return result;
}

class LocalTikTokServer {
	readonly store = new TikTokLocalStore();
	private readonly faults = new FaultInjector();
	private readonly rateLimiter = new AppRateLimiter();
	private readonly startupConfig: TikTokLocalConfig;
	config: TikTokLocalConfig;
	private counters = LocalTikTokServer.zeroCounters();
	/** Pending fault delays, cancelled on close so nothing keeps the process alive. */
	private readonly pendingDelays = new Set<NodeJS.Timeout>();
	private closing: Promise<void> | undefined;
	readonly server: Server;

	constructor(config: TikTokLocalConfig) {
		this.startupConfig = { ...config };
		this.config = { ...config };
		this.server = createServer((req, res) => {
			this.handle(req, res).catch((error: unknown) => {
				process.stderr.write(`tiktok-local: internal error on ${req.method} ${req.url}: ${String(error)}\n`);
				sendFailure(res, new ApiFailure(50000, `Internal error in the local TikTok API: ${String(error)}`, 500));
			});
		});
	}

	private static zeroCounters(): MappingCounters & { requests: number; byPath: Map<string, number>; faultsInjected: number } {
		return {
			requests: 0,
			byPath: new Map(),
			faultsInjected: 0,
			mappingRequests: 0,
			mappingRequestsRefused: 0,
			usersReceived: 0,
			usersAdded: 0,
			usersDeleted: 0,
		};
	}

	reset(): void {
		this.store.reset();
		this.faults.clear();
		this.rateLimiter.reset();
		this.counters = LocalTikTokServer.zeroCounters();
		this.config = { ...this.startupConfig };
	}

	setConfig(changes: Partial<TikTokLocalConfig>): TikTokLocalConfig {
		this.config = { ...this.config, ...validateConfigChanges(changes) };
		return { ...this.config };
	}

	injectFault(spec: FaultSpec): number {
		return this.faults.add(spec);
	}

	clearFaults(): void {
		this.faults.clear();
	}

	stats(): TikTokLocalStats {
		const rate = this.rateLimiter.stats();
		const { requests, byPath, faultsInjected, ...mapping } = this.counters;
		return {
			requests,
			byPath: Object.fromEntries(byPath),
			rejectedRateLimited: rate.rejected,
			rejectedRateLimitedByApp: rate.rejectedByApp,
			maxRequestsPerSecond: rate.maxAccepted,
			maxRequestsPerSecondByApp: rate.maxAcceptedByApp,
			maxAttemptedPerSecond: rate.maxAttempted,
			maxAttemptedPerSecondByApp: rate.maxAttemptedByApp,
			faultsInjected,
			...mapping,
			audiences: [...this.store.audiences.values()].map((audience) => ({
				id: audience.id,
				advertiserId: audience.advertiserId,
				name: audience.name,
				deleted: audience.deleted,
				memberCount: audience.memberCount,
			})),
		};
	}

	memberCount(audienceId: string): number {
		return this.store.audiences.get(audienceId)?.memberCount ?? 0;
	}

	/** Idempotent: later calls wait for the same shutdown. */
	close(): Promise<void> {
		this.closing ??= new Promise<void>((resolve, reject) => {
			for (const timer of this.pendingDelays) clearTimeout(timer);
			this.pendingDelays.clear();
			this.server.close((error) => (error ? reject(error) : resolve()));
			this.server.closeAllConnections();
		});
		return this.closing;
	}

	private delay(ms: number): Promise<void> {
		return new Promise((resolve) => {
			const timer = setTimeout(() => {
				this.pendingDelays.delete(timer);
				resolve();
			}, ms);
			this.pendingDelays.add(timer);
		});
	}

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const rawUrl = req.url ?? '/';
		const queryStart = rawUrl.indexOf('?');
		const path = queryStart === -1 ? rawUrl : rawUrl.slice(0, queryStart);
		const query = new URLSearchParams(queryStart === -1 ? '' : rawUrl.slice(queryStart + 1));

		if (path.startsWith(CONTROL_PREFIX)) return this.handleControl(req, res, path, query);

		const routeKey = apiRouteKey(path);
		const statsKey = routeKey ?? (isPortalPath(path) ? 'portal/auth' : path);
		this.counters.requests++;
		this.counters.byPath.set(statsKey, (this.counters.byPath.get(statsKey) ?? 0) + 1);

		// Faults come first so a faulted request never reaches a handler and never changes state.
		const fault = this.faults.take(path);
		if (fault?.delayMs) await this.delay(fault.delayMs);
		if (fault?.reset) {
			this.counters.faultsInjected++;
			req.socket.destroy();
			return;
		}

		let raw: Buffer;
		try {
			raw = await readBody(req);
		} catch (error) {
			if (!(error instanceof BodyTooLargeError)) throw error;
			sendFailure(res, new ApiFailure(40000, `Request body is too large (limit ${error.limit} bytes).`, 413), { connection: 'close' });
			return;
		}

		if (fault && faultReplacesAnswer(fault)) {
			this.counters.faultsInjected++;
			this.answerWithFault(req, res, fault);
			return;
		}

		if (isPortalPath(path)) return this.handlePortal(req, res, query);
		const route = routeKey === undefined ? undefined : API_ROUTES[routeKey];
		if (!route || routeKey === undefined) {
			sendFailure(res, new ApiFailure(40400, `Not found: ${req.method} ${path}`, 404));
			return;
		}
		if (req.method !== route.method) {
			sendFailure(res, new ApiFailure(40000, `Method ${req.method} is not allowed on ${routeKey}; use ${route.method}.`, 405));
			return;
		}

		let parsedBody: Record<string, unknown> | undefined;
		const ctx: ApiContext = {
			store: this.store,
			config: this.config,
			counters: this.counters,
			query,
			body: () => (parsedBody ??= parseBody(raw, req.headers['content-type'])),
		};
		try {
			let rateLimitedApp: string | undefined;
			if (route.needsToken) {
				const header = req.headers['access-token'];
				const tokenText = Array.isArray(header) ? header[0] : header;
				if (!tokenText) throw new ApiFailure(40104, 'Access token is empty.', this.config.invalidTokenHttpStatus);
				const token = this.store.activeToken(tokenText);
				const app = token && this.store.apps.get(token.appId);
				if (!token || !app) {
					throw new ApiFailure(40105, 'Access token is incorrect or has been revoked.', this.config.invalidTokenHttpStatus);
				}
				ctx.token = token;
				ctx.app = app;
				rateLimitedApp = app.appId;
			} else {
				// OAuth exchanges carry no token; they count against the app named in the body.
				let named: string | undefined;
				try {
					named = appIdOfOAuthBody(ctx.body());
				} catch {
					named = undefined;
				}
				rateLimitedApp = named !== undefined && this.store.apps.has(named) ? named : undefined;
			}
			if (rateLimitedApp !== undefined && !this.rateLimiter.admit(rateLimitedApp, this.config.rateLimitPerSecond)) {
				throw new ApiFailure(40100, `Due to too many requests, requests from App ${rateLimitedApp} are temporarily restricted.`);
			}
			const reply = route.handle(ctx);
			const requestId = newRequestId();
			if ('flat' in reply) sendJson(res, 200, { code: 0, message: 'OK', request_id: requestId, ...reply.flat });
			else sendJson(res, 200, { code: 0, message: 'OK', request_id: requestId, data: reply.data });
		} catch (error) {
			if (!(error instanceof ApiFailure)) throw error;
			sendFailure(res, error);
		}
	}

	private answerWithFault(req: IncomingMessage, res: ServerResponse, fault: FaultSpec): void {
		if (fault.html) {
			sendHtml(res, fault.httpStatus ?? 502, edgeErrorPage(fault.httpStatus ?? 502));
			return;
		}
		const status = fault.httpStatus ?? 200;
		const code = fault.code ?? codeForHttpStatus(status);
		const token = req.headers['access-token'];
		const appId = (typeof token === 'string' && this.store.tokens.get(token)?.appId) || 'unknown';
		sendJson(res, status, { code, message: fault.message ?? defaultFaultMessage(code, appId), request_id: newRequestId(), data: fault.data ?? {} });
	}

	private handlePortal(req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
		if (req.method !== 'GET') {
			sendHtml(res, 405, '<!DOCTYPE html><p>Method not allowed.</p>');
			return;
		}
		// n8n's OAuth2 credential also sends client_id, response_type and scope: accepted and ignored.
		const appId = query.get('app_id') ?? query.get('client_id');
		const app = appId ? this.store.apps.get(appId) : undefined;
		if (!app) {
			sendHtml(res, 400, `<!DOCTYPE html><p>Unknown app_id ${escapeHtml(appId ?? '(missing)')}.</p>`);
			return;
		}
		const redirectUri = query.get('redirect_uri');
		let target: URL;
		try {
			target = new URL(redirectUri ?? '');
			if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new Error('not http');
		} catch {
			sendHtml(res, 400, '<!DOCTYPE html><p>redirect_uri is missing or is not an http(s) URL.</p>');
			return;
		}
		if (query.get('interactive') === '1') {
			const approve = new URLSearchParams(query);
			approve.delete('interactive');
			const advertisers = this.store
				.advertiserIdsOf(app.appId)
				.map((id) => `<li>${escapeHtml(this.store.advertisers.get(id)?.name ?? id)} (${id})</li>`)
				.join('');
			sendHtml(
				res,
				200,
				`<!DOCTYPE html><html><head><title>Authorize ${escapeHtml(app.name)}</title></head><body>` +
					`<h1>${escapeHtml(app.name)} asks for access</h1><ul>${advertisers}</ul>` +
					`<p><a id="authorize" href="${PORTAL_AUTH_PATH}?${escapeHtml(approve.toString())}">Authorize</a></p></body></html>`,
			);
			return;
		}
		const code = this.store.issueAuthCode(app.appId);
		target.searchParams.set('auth_code', code);
		target.searchParams.set('code', code);
		const state = query.get('state');
		if (state !== null) target.searchParams.set('state', state);
		res.writeHead(302, { location: target.toString(), 'content-length': 0 });
		res.end();
	}

	private async handleControl(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
		let body: Record<string, unknown> = {};
		try {
			body = parseBody(await readBody(req), 'application/json');
		} catch (error) {
			sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
			return;
		}
		const route = `${req.method} ${path.endsWith('/') ? path.slice(0, -1) : path}`;
		const audienceRoute = /^(GET|POST) \/__local\/audiences\/([^/]+)\/(members|delete)$/.exec(route);
		try {
			if (audienceRoute) {
				const [, method, audienceId, action] = audienceRoute;
				const audience = this.store.audiences.get(decodeURIComponent(audienceId));
				if (!audience) {
					sendJson(res, 404, { error: `Unknown audience ${audienceId}` });
				} else if (method === 'GET' && action === 'members') {
					const countOnly = query.get('count') === '1' || query.get('count') === 'true';
					sendJson(res, 200, {
						audienceId: audience.id,
						count: audience.memberCount,
						...(countOnly ? {} : { members: [...audience.members] }),
					});
				} else if (method === 'POST' && action === 'delete') {
					sendJson(res, 200, { deleted: this.store.deleteAudience(audience.id) });
				} else {
					sendJson(res, 405, { error: `Use GET for members and POST for delete` });
				}
				return;
			}
			switch (route) {
				case 'GET /__local/health':
					sendJson(res, 200, { ok: true });
					return;
				case 'GET /__local/stats':
					sendJson(res, 200, this.stats());
					return;
				case 'GET /__local/config':
					sendJson(res, 200, this.config);
					return;
				case 'POST /__local/config':
					sendJson(res, 200, this.setConfig(body as Partial<TikTokLocalConfig>));
					return;
				case 'POST /__local/reset':
					this.reset();
					sendJson(res, 200, { ok: true });
					return;
				case 'POST /__local/faults':
					sendJson(res, 200, { id: this.injectFault(body as FaultSpec) });
					return;
				case 'DELETE /__local/faults':
					this.clearFaults();
					sendJson(res, 200, { ok: true });
					return;
				case 'POST /__local/tokens': {
					const appId = String(body.appId ?? '');
					const record =
						typeof body.token === 'string' && body.token ? this.store.addToken(body.token, appId) : this.store.issueAccessToken(appId);
					sendJson(res, 200, { token: record.token, appId: record.appId });
					return;
				}
				case 'POST /__local/tokens/revoke':
					sendJson(res, 200, { revoked: this.store.revokeToken(String(body.token ?? '')) });
					return;
				case 'POST /__local/auth-codes':
					sendJson(res, 200, { code: this.store.issueAuthCode(String(body.appId ?? '')) });
					return;
				default:
					sendJson(res, 404, { error: `Unknown control route ${route}` });
			}
		} catch (error) {
			sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
		}
	}
}

export async function startTikTokLocal(options: TikTokLocalOptions = {}): Promise<TikTokLocal> {
	const config: TikTokLocalConfig = {
		...DEFAULT_CONFIG,
		...validateConfigChanges({
			rateLimitPerSecond: options.rateLimitPerSecond,
			tokenResponseShape: options.tokenResponseShape,
			benchMode: options.benchMode,
			invalidTokenHttpStatus: options.invalidTokenHttpStatus,
		}),
	};
	const local = new LocalTikTokServer(config);
	await new Promise<void>((resolve, reject) => {
		local.server.once('error', reject);
		local.server.listen(options.port ?? 0, '127.0.0.1', () => {
			local.server.off('error', reject);
			resolve();
		});
	});
	const { port } = local.server.address() as AddressInfo;
	const url = `http://127.0.0.1:${port}`;
	return {
		url,
		port,
		apiUrl: `${url}${API_PREFIX}`,
		authUrl: `${url}${PORTAL_AUTH_PATH}`,
		tokenUrl: `${url}${API_PREFIX}oauth/token/`,
		store: local.store,
		get config() {
			return { ...local.config };
		},
		close: () => local.close(),
		injectFault: (spec) => local.injectFault(spec),
		clearFaults: () => local.clearFaults(),
		revokeToken: (token) => local.store.revokeToken(token),
		addToken: (token, appId) => {
			local.store.addToken(token, appId);
		},
		issueAuthCode: (appId) => local.store.issueAuthCode(appId),
		deleteAudience: (audienceId) => local.store.deleteAudience(audienceId),
		stats: () => local.stats(),
		members: (audienceId) => local.store.members(audienceId),
		memberCount: (audienceId) => local.memberCount(audienceId),
		reset: () => local.reset(),
		setConfig: (changes) => local.setConfig(changes),
	};
}
