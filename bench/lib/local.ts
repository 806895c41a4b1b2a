import { DEMO } from '../../test/tiktok-local/server';
import type { TikTokLocalStats } from '../../test/tiktok-local/server';
import type { TikTokConnection } from '../../nodes/shared/transport/client';

/** Where the bench server child listens (passed to each phase child by bench/run.ts). */
export interface ServerUrls {
	url: string;
	controlUrl: string;
}

export const ADVERTISER_ID = DEMO.advertisers[0].id;

export function connectionFor(urls: ServerUrls): TikTokConnection {
	return { baseUrl: urls.url, accessToken: DEMO.accessToken, appId: DEMO.appId, secret: DEMO.secret };
}

async function json<T>(url: string, init?: RequestInit): Promise<T> {
	const response = await fetch(url, init);
	if (!response.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: HTTP ${response.status}`);
	return (await response.json()) as T;
}

const post = (body: unknown = {}): RequestInit => ({
	method: 'POST',
	headers: { 'content-type': 'application/json' },
	body: JSON.stringify(body),
});

/** Seed state, zeroed stats, then the given validation mode; returns a fresh audience's ID. */
export async function resetServer(urls: ServerUrls, benchMode: boolean): Promise<string> {
	await json(`${urls.url}/__local/reset`, post());
	await json(`${urls.url}/__local/config`, post({ benchMode }));
	await json(`${urls.controlUrl}/accepts/clear`, post());
	const created = await json<{ code: number; data: { audience_id: string } }>(`${urls.url}/open_api/v1.3/segment/audience/`, {
		method: 'POST',
		headers: { 'Access-Token': DEMO.accessToken, 'Content-Type': 'application/json' },
		body: JSON.stringify({ advertiser_id: ADVERTISER_ID, action: 'create', custom_audience_name: `bench ${Date.now()}` }),
	});
	if (created.code !== 0) throw new Error(`could not create the bench audience: code ${created.code}`);
	return created.data.audience_id;
}

export function serverStats(urls: ServerUrls): Promise<TikTokLocalStats> {
	return json(`${urls.url}/__local/stats`);
}

export interface ServerCpu {
	userUs: number;
	systemUs: number;
	at: number;
	rssBytes: number;
}

export function serverCpu(urls: ServerUrls): Promise<ServerCpu> {
	return json(`${urls.controlUrl}/cpu`);
}

/** Share of one core the server used between two readings (0.5 = half a core). */
export function cpuShare(before: ServerCpu, after: ServerCpu): number {
	return (after.userUs + after.systemUs - before.userUs - before.systemUs) / 1000 / (after.at - before.at);
}

export function serverAccepts(urls: ServerUrls): Promise<Array<{ at: number; rows: number }>> {
	return json(`${urls.controlUrl}/accepts`);
}

/** When each mapping request reached the API (accepted or refused), in arrival order. */
export function serverArrivals(urls: ServerUrls): Promise<number[]> {
	return json(`${urls.controlUrl}/arrivals`);
}

/** Most events in any sliding window of `windowMs` (half-open (t - windowMs, t]), from ascending times. */
export function maxInSlidingWindow(times: ReadonlyArray<number>, windowMs = 1_000): number {
	let max = 0;
	let head = 0;
	for (let i = 0; i < times.length; i++) {
		while (times[i] - times[head] >= windowMs) head++;
		if (i - head + 1 > max) max = i - head + 1;
	}
	return max;
}
