/**
 * What an n8n user builds today: one request per user (an HTTP Request node per item) under TikTok's 50
 * requests/s, through the same transport (TikTokClient and its shared pacer) to the same local API, for a fixed time.
 */
import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import { TikTokClient } from '../../nodes/shared/transport/client';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { ADVERTISER_ID, connectionFor, cpuShare, resetServer, serverCpu, serverStats, type ServerUrls } from '../lib/local';
import { wallNow } from '../lib/stats';
import { emailOf } from '../lib/users';

export interface BaselineArgs {
	seconds: number;
	/** Requests in flight at once (the pacer still spaces them 20 ms apart). */
	concurrency: number;
	benchMode: boolean;
}

export interface BaselineResult {
	seconds: number;
	users: number;
	usersPerSecond: number;
	requests: number;
	maxRequestsPerSecond: number;
	rateLimited: number;
	memberCount: number;
	serverCpuShare: number;
}

export async function runBaseline(urls: ServerUrls, args: BaselineArgs): Promise<BaselineResult> {
	const audienceId = await resetServer(urls, args.benchMode);
	resetPacers();
	// The default client: paced on the app's shared 50 requests/s bucket.
	const client = new TikTokClient(connectionFor(urls));
	const serverBefore = await serverCpu(urls);
	const started = wallNow();
	const stopAt = started + args.seconds * 1000;
	let next = 0;
	let synced = 0;
	await Promise.all(
		Array.from({ length: args.concurrency }, async () => {
			while (wallNow() < stopAt) {
				const { ids } = hashUser(['email'], [emailOf(next++)]);
				dedupeKey(ids);
				await client.segmentMapping({
					advertiserIds: [ADVERTISER_ID],
					action: 'add',
					idSchema: ['EMAIL_SHA256'],
					batchData: [[{ id: ids[0] as string, audience_ids: [audienceId] }]],
				});
				synced++;
			}
		}),
	);
	const seconds = (wallNow() - started) / 1000;
	const serverAfter = await serverCpu(urls);
	const stats = await serverStats(urls);
	return {
		seconds,
		users: synced,
		usersPerSecond: synced / seconds,
		requests: stats.byPath['segment/mapping/'] ?? 0,
		maxRequestsPerSecond: stats.maxRequestsPerSecond,
		rateLimited: stats.rejectedRateLimited,
		memberCount: stats.audiences.find((audience) => audience.id === audienceId)?.memberCount ?? 0,
		serverCpuShare: cpuShare(serverBefore, serverAfter),
	};
}
