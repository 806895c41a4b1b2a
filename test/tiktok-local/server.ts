/**
 * Local TikTok Marketing API (v1.3): a stand-in for business-api.tiktok.com that tests, the benchmark and the dev
 * script reach over real HTTP on 127.0.0.1. It behaves as TikTok's Marketing API documentation describes: TikTok's
 * envelope `{code, message, request_id, data}` with HTTP 200 for business errors, the Access-Token header,
 * single-use auth codes, Partner audiences, whole-batch mapping validation and a per-app limit of 50 requests per
 * sliding second.
 *
 * Modules: config.ts (options, defaults, checks), dispatch.ts (an API request: faults, token, rate limit, route),
 * routes.ts (the API routes), portal.ts (the authorisation page), control.ts (the /__local/ control API),
 * faults.ts, store.ts (state), rateWindow.ts, mapping.ts, seed.ts, http.ts; this file holds the server and its handle.
 *
 * Seed (restored by reset()):
 *   - Demo app   app_id 7000000000000000001, secret "local-demo-secret", access token "local-demo-access-token";
 *                reaches advertisers 7100000000000000001 "Demo Store US" and 7100000000000000002 "Demo Store EU".
 *   - Other app  app_id 7000000000000000002, secret "local-other-secret", access token "local-other-access-token";
 *                reaches advertiser 7100000000000000003 "Other Agency Shop" (for "not your advertiser/audience").
 *   - No audiences; audience IDs count up from 1790000000000001.
 *
 * API routes: /portal/auth (a browser gets a consent page with an Authorize button; other clients are approved at once
 * with a 302 to redirect_uri carrying auth_code, code and state; see portal.ts) and /open_api/v1.3/<route>/ for the
 * routes in routes.ts (the trailing slash is optional).
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
 *   GET    /__local/requests[?since=N&path=segment/mapping/]  requests() → {recording, dropped, entries} (needs the
 *                                               recordRequests config; see requestLog.ts)
 *   DELETE /__local/requests                    clearRequests()
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { configFromOptions, validateConfigChanges, type TikTokLocalOptions } from './config';
import { CONTROL_PREFIX, handleControl, type ControlTarget } from './control';
import { API_PREFIX, dispatch, zeroCounters, type DispatchTarget } from './dispatch';
import { FaultInjector, type FaultSpec } from './faults';
import { ApiFailure, sendFailure } from './http';
import { PORTAL_AUTH_PATH } from './portal';
import { AppRateLimiter } from './rateWindow';
import { RequestLog, type LoggedRequest } from './requestLog';
import type { MappingCounters, TikTokLocalConfig } from './routes';
import { TikTokLocalStore } from './store';

export { DEMO, OTHER, SEED_APPS, MAX_AUDIENCES_PER_ADVERTISER, MAX_MAPPING_ROWS, MIN_REPORTED_AUDIENCE_SIZE } from './seed';
export type { SeedApp, SeedAdvertiser } from './seed';
export type { FaultSpec } from './faults';
export type { TikTokLocalConfig, MappingCounters } from './routes';
export { TikTokLocalStore, MAPPING_ID_TYPES } from './store';
export type { LocalAudience, LocalApp, LocalToken } from './store';
export type { TikTokLocalOptions } from './config';
export type { LoggedRequest } from './requestLog';
export { API_PREFIX } from './dispatch';
export { PORTAL_AUTH_PATH } from './portal';

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
	/** The request log (empty unless config.recordRequests): entries after `since`, optionally of one route. */
	requests(opts?: { since?: number; path?: string }): LoggedRequest[];
	clearRequests(): void;
}

class LocalTikTokServer implements DispatchTarget, ControlTarget {
	readonly store = new TikTokLocalStore();
	readonly faults = new FaultInjector();
	readonly rateLimiter = new AppRateLimiter();
	readonly requestLog = new RequestLog();
	private readonly startupConfig: TikTokLocalConfig;
	config: TikTokLocalConfig;
	counters = zeroCounters();
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
		// Idle keep-alive connections are closed by the clients (fetch after 4 s), never by this server: a server closing
		// one (Node's default: after 5 s) races a client that reuses it at that moment, and the client's POST fails
		// with ECONNRESET (seen in CI, in a test's own fetch). close() still ends every connection.
		this.server.keepAliveTimeout = 0;
	}

	reset(): void {
		this.store.reset();
		this.faults.clear();
		this.rateLimiter.reset();
		this.requestLog.clear();
		this.counters = zeroCounters();
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

	delay(ms: number): Promise<void> {
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
		if (path.startsWith(CONTROL_PREFIX)) return handleControl(this, req, res, path, query);
		return dispatch(this, req, res, path, query);
	}
}

export async function startTikTokLocal(options: TikTokLocalOptions = {}): Promise<TikTokLocal> {
	const local = new LocalTikTokServer(configFromOptions(options));
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
		requests: (opts) => local.requestLog.list(opts),
		clearRequests: () => local.requestLog.clear(),
	};
}
