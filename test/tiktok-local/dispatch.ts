/**
 * Answering an API or portal request: count it, apply an injected fault (before any handler, so a faulted request
 * never changes state), then hand it to the portal or to its route in routes.ts after TikTok's checks (the
 * Access-Token header, the per-app rate limit), wrapping the answer in TikTok's envelope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { faultReplacesAnswer, type FaultInjector, type FaultSpec } from './faults';
import { ApiFailure, BodyTooLargeError, newRequestId, parseBody, readBody, sendFailure, sendHtml, sendJson } from './http';
import { handlePortal, isPortalPath } from './portal';
import type { AppRateLimiter } from './rateWindow';
import { RequestLog } from './requestLog';
import { API_ROUTES, appIdOfOAuthBody, type ApiContext, type MappingCounters, type TikTokLocalConfig } from './routes';
import type { TikTokLocalStore } from './store';

export const API_PREFIX = '/open_api/v1.3/';

export interface RequestCounters extends MappingCounters {
	requests: number;
	byPath: Map<string, number>;
	faultsInjected: number;
}

export function zeroCounters(): RequestCounters {
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

/** The server state a request reads and changes (read live: reset() replaces config and counters). */
export interface DispatchTarget {
	readonly store: TikTokLocalStore;
	readonly config: TikTokLocalConfig;
	readonly counters: RequestCounters;
	readonly faults: FaultInjector;
	readonly rateLimiter: AppRateLimiter;
	/** Written only while config.recordRequests is on. */
	readonly requestLog: RequestLog;
	/** A delay that close() cancels. */
	delay(ms: number): Promise<void>;
}

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

function answerWithFault(target: DispatchTarget, req: IncomingMessage, res: ServerResponse, fault: FaultSpec): void {
	if (fault.html) {
		sendHtml(res, fault.httpStatus ?? 502, edgeErrorPage(fault.httpStatus ?? 502));
		return;
	}
	const status = fault.httpStatus ?? 200;
	const code = fault.code ?? codeForHttpStatus(status);
	const token = req.headers['access-token'];
	const appId = (typeof token === 'string' && target.store.tokens.get(token)?.appId) || 'unknown';
	sendJson(res, status, { code, message: fault.message ?? defaultFaultMessage(code, appId), request_id: newRequestId(), data: fault.data ?? {} });
}

export async function dispatch(target: DispatchTarget, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
	const { store } = target;
	const routeKey = apiRouteKey(path);
	const statsKey = routeKey ?? (isPortalPath(path) ? 'portal/auth' : path);
	target.counters.requests++;
	target.counters.byPath.set(statsKey, (target.counters.byPath.get(statsKey) ?? 0) + 1);
	let logged: ReturnType<RequestLog['begin']> | undefined;
	if (target.config.recordRequests) {
		const header = req.headers['access-token'];
		const tokenText = Array.isArray(header) ? header[0] : header;
		logged = target.requestLog.begin(req, res, statsKey, tokenText ? store.tokens.get(tokenText)?.appId : undefined);
	}

	// Faults come first so a faulted request never reaches a handler and never changes state.
	const fault = target.faults.take(path);
	if (fault?.delayMs) await target.delay(fault.delayMs);
	if (fault?.reset) {
		if (logged) logged.faulted = true;
		target.counters.faultsInjected++;
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

	if (logged && routeKey === 'segment/mapping/') {
		try {
			RequestLog.describeMapping(logged, parseBody(raw, req.headers['content-type']));
		} catch {
			// malformed: the handler answers for it
		}
	}

	if (fault && faultReplacesAnswer(fault)) {
		if (logged) logged.faulted = true;
		target.counters.faultsInjected++;
		answerWithFault(target, req, res, fault);
		return;
	}

	if (isPortalPath(path)) return handlePortal(store, req, res, query);
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
		store,
		config: target.config,
		counters: target.counters,
		query,
		body: () => (parsedBody ??= parseBody(raw, req.headers['content-type'])),
	};
	try {
		let rateLimitedApp: string | undefined;
		if (route.needsToken) {
			const header = req.headers['access-token'];
			const tokenText = Array.isArray(header) ? header[0] : header;
			if (!tokenText) throw new ApiFailure(40104, 'Access token is empty.', target.config.invalidTokenHttpStatus);
			const token = store.activeToken(tokenText);
			const app = token && store.apps.get(token.appId);
			if (!token || !app) {
				throw new ApiFailure(40105, 'Access token is incorrect or has been revoked.', target.config.invalidTokenHttpStatus);
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
			rateLimitedApp = named !== undefined && store.apps.has(named) ? named : undefined;
		}
		if (rateLimitedApp !== undefined && !target.rateLimiter.admit(rateLimitedApp, target.config.rateLimitPerSecond)) {
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
