/**
 * The control API under `/__local/` (plain JSON, not rate limited, never faulted): what tests and `npm run dev`
 * use to inspect and steer the local TikTok API from another process. Each route mirrors a method of TikTokLocal
 * (the route table is in server.ts' header).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import type { FaultSpec } from './faults';
import type { RequestLog } from './requestLog';
import { parseBody, readBody, sendJson } from './http';
import type { TikTokLocalConfig } from './routes';
import type { TikTokLocalStore } from './store';

export const CONTROL_PREFIX = '/__local/';

/** What the control routes act on: the running server. */
export interface ControlTarget {
	readonly store: TikTokLocalStore;
	readonly config: TikTokLocalConfig;
	stats(): unknown;
	setConfig(changes: Partial<TikTokLocalConfig>): TikTokLocalConfig;
	reset(): void;
	injectFault(spec: FaultSpec): number;
	clearFaults(): void;
	readonly requestLog: RequestLog;
}

export async function handleControl(
	target: ControlTarget,
	req: IncomingMessage,
	res: ServerResponse,
	path: string,
	query: URLSearchParams,
): Promise<void> {
	const { store } = target;
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
			const audience = store.audiences.get(decodeURIComponent(audienceId));
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
				sendJson(res, 200, { deleted: store.deleteAudience(audience.id) });
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
				sendJson(res, 200, target.stats());
				return;
			case 'GET /__local/config':
				sendJson(res, 200, target.config);
				return;
			case 'POST /__local/config':
				sendJson(res, 200, target.setConfig(body as Partial<TikTokLocalConfig>));
				return;
			case 'POST /__local/reset':
				target.reset();
				sendJson(res, 200, { ok: true });
				return;
			case 'POST /__local/faults':
				sendJson(res, 200, { id: target.injectFault(body as FaultSpec) });
				return;
			case 'DELETE /__local/faults':
				target.clearFaults();
				sendJson(res, 200, { ok: true });
				return;
			case 'POST /__local/tokens': {
				const appId = String(body.appId ?? '');
				const record = typeof body.token === 'string' && body.token ? store.addToken(body.token, appId) : store.issueAccessToken(appId);
				sendJson(res, 200, { token: record.token, appId: record.appId });
				return;
			}
			case 'POST /__local/tokens/revoke':
				sendJson(res, 200, { revoked: store.revokeToken(String(body.token ?? '')) });
				return;
			case 'GET /__local/requests': {
				const since = query.get('since');
				const entries = target.requestLog.list({ since: since ? Number(since) : undefined, path: query.get('path') ?? undefined });
				sendJson(res, 200, { recording: target.config.recordRequests, dropped: target.requestLog.dropped, entries });
				return;
			}
			case 'DELETE /__local/requests':
				target.requestLog.clear();
				sendJson(res, 200, { ok: true });
				return;
			case 'POST /__local/auth-codes':
				sendJson(res, 200, { code: store.issueAuthCode(String(body.appId ?? '')) });
				return;
			default:
				sendJson(res, 404, { error: `Unknown control route ${route}` });
		}
	} catch (error) {
		sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
	}
}
