/**
 * TikTok's authorisation page, `/portal/auth` (the "Advertiser authorization URL" of a TikTok app): it takes
 * `app_id` (n8n's OAuth2 credential also sends client_id, response_type and scope: accepted and ignored),
 * `redirect_uri` and `state`, and on approval redirects to `redirect_uri` with `auth_code`, `code` and `state`.
 *
 * Like TikTok, a browser gets a consent page first: it names the app, lists the ad accounts it will reach, and has an
 * Authorize button (a link to the same URL with `approve=1`). A request is treated as a browser's when it accepts
 * text/html (browsers navigating do; fetch and curl accept anything), or when it carries `interactive=1`. Other clients (the
 * REST e2e tests following redirects) are approved at once with a 302; `interactive=0` forces that for anyone.
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
	if (wantsConsentPage(req, query)) {
		sendHtml(res, 200, consentPage(store, app.appId, app.name, query));
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

function wantsConsentPage(req: IncomingMessage, query: URLSearchParams): boolean {
	if (query.get('approve') === '1' || query.get('interactive') === '0') return false;
	if (query.get('interactive') === '1') return true;
	return /\btext\/html\b/.test(String(req.headers.accept ?? ''));
}

function consentPage(store: TikTokLocalStore, appId: string, appName: string, query: URLSearchParams): string {
	const approve = new URLSearchParams(query);
	approve.delete('interactive');
	approve.set('approve', '1');
	const advertisers = store
		.advertiserIdsOf(appId)
		.map((id) => `<li><b>${escapeHtml(store.advertisers.get(id)?.name ?? id)}</b> <span>${id}</span></li>`)
		.join('');
	const style =
		'body{font-family:sans-serif;background:#f4f4f5;margin:0}main{max-width:460px;margin:48px auto;background:#fff;padding:28px 32px;border-radius:8px}' +
		'h1{font-size:20px}ul{padding-left:20px}li{margin:6px 0}li span{color:#71717a;font-size:13px}' +
		'a#authorize{display:inline-block;background:#fe2c55;color:#fff;padding:10px 28px;border-radius:4px;text-decoration:none;font-weight:bold}' +
		'footer{color:#71717a;font-size:12px;margin-top:20px}';
	return (
		`<!DOCTYPE html><html><head><meta charset="utf-8"><title>Authorize ${escapeHtml(appName)}</title><style>${style}</style></head><body><main>` +
		`<h1>${escapeHtml(appName)} asks for access</h1>` +
		`<p>It will manage audiences of these ad accounts:</p><ul id="advertisers">${advertisers}</ul>` +
		`<p><a id="authorize" href="${PORTAL_AUTH_PATH}?${escapeHtml(approve.toString())}">Authorize</a></p>` +
		'<footer>Local TikTok API for Business (test stand-in)</footer></main></body></html>'
	);
}
