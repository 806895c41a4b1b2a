import type { SendMapping, SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { ALREADY_PACED, mappingSender } from '../../nodes/TikTokBatchSync/sender';
import { appKeyFor, TikTokClient } from '../../nodes/shared/transport/client';
import { pacerFor, resetPacers } from '../../nodes/shared/transport/rateLimit';
import { ADVERTISER_ID, connectionFor, cpuShare, resetServer, serverCpu, serverStats, type ServerUrls } from '../lib/local';
import { cpuSince, wallNow } from '../lib/stats';
import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import { emailOf, hashedUsers } from '../lib/users';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

export interface ThroughputArgs {
	users: number;
	/** Users per submit (one "execution"). */
	perSubmit: number;
	benchMode: boolean;
	/** Normalise and hash inside the timed loop (as the node does), instead of before it. */
	hashInLoop: boolean;
}

export interface ThroughputResult {
	users: number;
	hashInLoop: boolean;
	benchMode: boolean;
	seconds: number;
	usersPerSecond: number;
	requestsSent: number;
	serverMappingRequests: number;
	serverUsersReceived: number;
	memberCount: number;
	maxRequestsPerSecond: number;
	rateLimited: number;
	synced: number;
	clientCpuShare: number;
	clientCpuUsPerUser: number;
	serverCpuShare: number;
	serverCpuUsPerUser: number;
	/** Mean time from the send to TikTok's answer, per request. */
	meanRequestMs: number;
}


export async function runThroughput(urls: ServerUrls, args: ThroughputArgs): Promise<ThroughputResult> {
	const audienceId = await resetServer(urls, args.benchMode);
	resetPacers();
	const connection = connectionFor(urls);
	const client = new TikTokClient(connection, { pacer: ALREADY_PACED });
	let requestsSent = 0;
	let requestMs = 0;
	// The nodes' sender (no pacing in the client: the engine paces on the app's shared 50 requests/s pacer).
	const sendMapping = mappingSender(client);
	const send: SendMapping = async (batch) => {
		requestsSent++;
		const started = wallNow();
		await sendMapping(batch);
		requestMs += wallNow() - started;
	};
	const pacer = pacerFor(appKeyFor(connection));
	const coordinator = newTikTokCoordinator();
	const scope = 'bench:throughput';
	const destination = { advertiserId: ADVERTISER_ID, audienceId, action: 'add' as const, idSchema: ['EMAIL_SHA256' as const] };

	// Made before the clock starts: hashed users, or (hashInLoop) the raw emails the node would read from its items.
	const batches: SyncUser[][] = [];
	const rawBatches: string[][] = [];
	for (let start = 0; start < args.users; start += args.perSubmit) {
		const count = Math.min(args.perSubmit, args.users - start);
		if (args.hashInLoop) rawBatches.push(Array.from({ length: count }, (_, i) => emailOf(start + i)));
		else batches.push(hashedUsers(start, count));
	}
	if (global.gc) global.gc();

	const serverBefore = await serverCpu(urls);
	const cpuBefore = process.cpuUsage();
	const started = wallNow();
	let batch = 0;
	for (let start = 0; start < args.users; start += args.perSubmit, batch++) {
		let users: SyncUser[];
		if (args.hashInLoop) {
			const raw = rawBatches[batch];
			users = new Array<SyncUser>(raw.length);
			for (let i = 0; i < raw.length; i++) {
				const { ids } = hashUser(['email'], [raw[i]]);
				users[i] = { key: dedupeKey(ids), ids };
			}
			rawBatches[batch] = [];
		} else {
			users = batches[batch];
			batches[batch] = [];
		}
		// An execution that does not wait for delivery; when 250,000 users are pending the submit waits for room.
		await coordinator.submit({ scope, destination, users, send, pacer, waitForDelivery: false });
		// Executions arrive as separate events (webhooks): let I/O and timers run between them.
		await new Promise((resolve) => setImmediate(resolve));
	}
	await coordinator.flush(scope);
	const seconds = (wallNow() - started) / 1000;
	const clientCpuUs = cpuSince(cpuBefore);
	const serverAfter = await serverCpu(urls);
	const stats = await serverStats(urls);
	const counters = coordinator.report(scope);
	coordinator.reset();

	const serverCpuUs = serverAfter.userUs + serverAfter.systemUs - serverBefore.userUs - serverBefore.systemUs;
	const member = stats.audiences.find((audience) => audience.id === audienceId);
	return {
		users: args.users,
		hashInLoop: args.hashInLoop,
		benchMode: args.benchMode,
		seconds,
		usersPerSecond: counters.synced / seconds,
		requestsSent,
		serverMappingRequests: stats.byPath['segment/mapping/'] ?? 0,
		serverUsersReceived: stats.usersReceived,
		memberCount: member?.memberCount ?? 0,
		maxRequestsPerSecond: stats.maxRequestsPerSecond,
		rateLimited: stats.rejectedRateLimited,
		synced: counters.synced,
		clientCpuShare: clientCpuUs / 1000 / (seconds * 1000),
		clientCpuUsPerUser: clientCpuUs / args.users,
		serverCpuShare: cpuShare(serverBefore, serverAfter),
		serverCpuUsPerUser: serverCpuUs / args.users,
		meanRequestMs: requestMs / Math.max(1, requestsSent),
	};
}
