/**
 * TikTok's authorisation page, `/portal/auth` (the "Advertiser authorization URL" of a TikTok app): it takes
 * `app_id` (n8n's OAuth2 credential also sends client_id, response_type and scope: accepted and ignored),
 * `redirect_uri` and `state`, and on approval redirects to `redirect_uri` with `auth_code`, `code` and `state`.
 * Without `interactive=1` it approves at once with a 302; with it, it shows a page listing the app's ad accounts and
 * an Authorize link.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { escapeHtml, sendHtml } from './http';
import type { TikTokLocalStore } from './store';

export const PORTAL_AUTH_PATH = '/portal/auth';

export function isPortalPath(path: string): boolean {
	return path === PORTAL_AUTH_PATH || path === `${PORTAL_AUTH_PATH}/`;
}

export function handlePortal(store: TikTokLocalStore, req: IncomingMessage, res: ServerResponse, query: URLSearchParams): void {
	if (req.method !== 'GET') {
		sendHtml(res, 405, '<!DOCTYPE html><p>Method not allowed.</p>');
		return;
	}
	const appId = query.get('app_id') ?? query.get('client_id');
	const app = appId ? store.apps.get(appId) : undefined;
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
		const advertisers = store
			.advertiserIdsOf(app.appId)
			.map((id) => `<li>${escapeHtml(store.advertisers.get(id)?.name ?? id)} (${id})</li>`)
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
	const code = store.issueAuthCode(app.appId);
	target.searchParams.set('auth_code', code);
	target.searchParams.set('code', code);
	const state = query.get('state');
	if (state !== null) target.searchParams.set('state', state);
	res.writeHead(302, { location: target.toString(), 'content-length': 0 });
	res.end();
}
