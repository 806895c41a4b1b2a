/**
 * The local TikTok API (test/tiktok-local/server.ts) for e2e tests: in process (full TikTokLocal object: store,
 * faults, stats as methods) or as a separate process (`tsx test/tiktok-local/cli.ts`, driven over its
 * /__local/… control routes). n8n reaches it over HTTP on 127.0.0.1 either way.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

import { DEMO as DEMO_APP } from '../../tiktok-local/seed';
import type { LoggedRequest, TikTokLocal, TikTokLocalOptions, TikTokLocalStats } from '../../tiktok-local/server';
import { sleep } from './net';
import { REPO_DIR } from './runtime';

export type { LoggedRequest, TikTokLocal, TikTokLocalOptions, TikTokLocalStats } from '../../tiktok-local/server';
export { DEMO, OTHER } from '../../tiktok-local/seed';

/** In process: resolves once it listens on 127.0.0.1 (port 0 = a free one). Close it with `close()`. */
export async function startTikTok(options: TikTokLocalOptions = {}): Promise<TikTokLocal> {
	const { startTikTokLocal } = await import('../../tiktok-local/server');
	return startTikTokLocal(options);
}

/** HTTP client for the control routes of a local TikTok API (works for both modes). */
export class TikTokControl {
	constructor(readonly url: string) {}

	async call<T = any>(method: string, path: string, body?: unknown): Promise<T> {
		const response = await fetch(`${this.url}/__local/${path.replace(/^\//, '')}`, {
			method,
			headers: body === undefined ? {} : { 'content-type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
			signal: AbortSignal.timeout(10_000),
		});
		const text = await response.text();
		if (!response.ok) throw new Error(`${method} /__local/${path} → HTTP ${response.status}: ${text}`);
		return (text ? JSON.parse(text) : undefined) as T;
	}

	health() {
		return this.call<{ ok: boolean }>('GET', 'health');
	}
	stats() {
		return this.call<TikTokLocalStats>('GET', 'stats');
	}
	reset() {
		return this.call('POST', 'reset');
	}
	setConfig(changes: Record<string, unknown>) {
		return this.call('POST', 'config', changes);
	}
	injectFault(spec: Record<string, unknown>) {
		return this.call<{ id: number }>('POST', 'faults', spec);
	}
	clearFaults() {
		return this.call('DELETE', 'faults');
	}
	addToken(appId: string, token?: string) {
		return this.call<{ token: string; appId: string }>('POST', 'tokens', { appId, token });
	}
	revokeToken(token: string) {
		return this.call<{ revoked: boolean }>('POST', 'tokens/revoke', { token });
	}
	members(audienceId: string) {
		return this.call<{ audienceId: string; count: number; members: string[] }>('GET', `audiences/${encodeURIComponent(audienceId)}/members`);
	}
	deleteAudience(audienceId: string) {
		return this.call<{ deleted: boolean }>('POST', `audiences/${encodeURIComponent(audienceId)}/delete`);
	}
	/** The request log (start the API with recordRequests / TIKTOK_LOCAL_RECORD=1): entries after `since`, of `path`. */
	requests(opts: { since?: number; path?: string } = {}) {
		const query = new URLSearchParams();
		if (opts.since !== undefined) query.set('since', String(opts.since));
		if (opts.path !== undefined) query.set('path', opts.path);
		const suffix = query.size ? `?${query}` : '';
		return this.call<{ recording: boolean; dropped: number; entries: LoggedRequest[] }>('GET', `requests${suffix}`);
	}
	clearRequests() {
		return this.call('DELETE', 'requests');
	}
}

export interface TikTokProcess {
	readonly url: string;
	readonly pid: number;
	readonly control: TikTokControl;
	/** Output of the process so far. */
	output(): string;
	close(): Promise<void>;
}

/**
 * As a separate process (system Node + tsx), e.g. to survive or outlive a test file. `port` defaults to 0 (free).
 * env: TIKTOK_LOCAL_TOKEN_SHAPE, TIKTOK_LOCAL_RATE_LIMIT, TIKTOK_LOCAL_BENCH (see test/tiktok-local/cli.ts).
 */
export async function startTikTokProcess(opts: { port?: number; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<TikTokProcess> {
	const tsx = join(REPO_DIR, 'node_modules', '.bin', 'tsx');
	const child: ChildProcess = spawn(tsx, [join(REPO_DIR, 'test', 'tiktok-local', 'cli.ts')], {
		cwd: REPO_DIR,
		env: { ...process.env, TIKTOK_LOCAL_PORT: String(opts.port ?? 0), ...opts.env },
		detached: true,
		stdio: ['ignore', 'pipe', 'pipe'],
	});
	let output = '';
	child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
	child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
	const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
	let url: string | undefined;
	while (!url) {
		url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
		if (url) break;
		if (child.exitCode !== null || Date.now() > deadline) {
			try {
				process.kill(-child.pid!, 'SIGKILL');
			} catch {
				// gone
			}
			throw new Error(`local TikTok API did not start:\n${output}`);
		}
		await sleep(100);
	}
	const exited = new Promise<void>((r) => (child.exitCode !== null ? r() : child.once('exit', () => r())));
	return {
		url,
		pid: child.pid!,
		control: new TikTokControl(url),
		output: () => output,
		close: async () => {
			if (child.exitCode !== null) return;
			try {
				process.kill(-child.pid!, 'SIGTERM');
			} catch {
				return;
			}
			let timer: NodeJS.Timeout | undefined;
			const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)))]);
			clearTimeout(timer);
			if (!done) {
				try {
					process.kill(-child.pid!, 'SIGKILL');
				} catch {
					// gone
				}
			}
		},
	};
}

/**
 * Credential data for `tikTokBusinessApi` pointing at a local TikTok API (field names live here only).
 * Defaults to the seeded demo app and its long-term token.
 */
export function tikTokApiCredentialData(baseUrl: string, app: { appId: string; secret: string; accessToken: string } = DEMO_APP): Record<string, unknown> {
	return { accessToken: app.accessToken, appId: app.appId, secret: app.secret, environment: 'custom', baseUrl };
}

/**
 * Credential data for `tikTokBusinessOAuth2Api` pointing at a local TikTok API (before Connect). Pass
 * `oauthTokenData` to skip the Connect dance (n8n accepts it through the public API).
 */
export function tikTokOAuth2CredentialData(
	baseUrl: string,
	app: { appId: string; secret: string } = DEMO_APP,
	oauthTokenData?: Record<string, unknown>,
): Record<string, unknown> {
	return {
		clientId: app.appId,
		clientSecret: app.secret,
		environment: 'custom',
		baseUrl,
		...(oauthTokenData ? { oauthTokenData } : {}),
	};
}
