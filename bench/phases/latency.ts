/**
 * Enter → sent latency at a steady arrival rate with the default 5 s window: users enter the engine in small
 * executions every 10 ms; each user's latency is from its submit to the moment the local API handed back the
 * code-0 answer to the request that carried it (recorded by the API's process, bench/server.ts).
 */
import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import { DEFAULT_WINDOW_MS, type SendMapping, type SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { ALREADY_PACED, mappingSender } from '../../nodes/TikTokBatchSync/sender';
import { appKeyFor, TikTokClient } from '../../nodes/shared/transport/client';
import { pacerFor, resetPacers } from '../../nodes/shared/transport/rateLimit';
import { ADVERTISER_ID, connectionFor, resetServer, serverAccepts, type ServerUrls } from '../lib/local';
import { percentile, sleep, wallNow } from '../lib/stats';
import { emailOf } from '../lib/users';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

export interface LatencyArgs {
	usersPerSecond: number;
	arrivalSeconds: number;
	tickMs: number;
	benchMode: boolean;
}

export interface LatencyResult {
	usersPerSecond: number;
	arrivalSeconds: number;
	windowMs: number;
	users: number;
	synced: number;
	requests: number;
	p50Ms: number;
	p99Ms: number;
	maxMs: number;
	minMs: number;
	/** Same, to when the engine's send saw the answer (client side). */
	clientP99Ms: number;
	/** Achieved arrival rate. */
	arrivalRate: number;
}


export async function runLatency(urls: ServerUrls, args: LatencyArgs): Promise<LatencyResult> {
	const audienceId = await resetServer(urls, args.benchMode);
	resetPacers();
	const connection = connectionFor(urls);
	const client = new TikTokClient(connection, { pacer: ALREADY_PACED });
	// Per request (in send order): the hash of each row, and when the engine saw TikTok's answer.
	const requests: Array<{ ids: string[]; answeredAt: number }> = [];
	const sendMapping = mappingSender(client);
	const send: SendMapping = async (batch) => {
		const entry = { ids: batch.columns[0] as string[], answeredAt: NaN };
		requests.push(entry);
		await sendMapping(batch);
		entry.answeredAt = wallNow();
	};
	const pacer = pacerFor(appKeyFor(connection));
	const coordinator = newTikTokCoordinator();
	const scope = 'bench:latency';
	const destination = { advertiserId: ADVERTISER_ID, audienceId, action: 'add' as const, idSchema: ['EMAIL_SHA256' as const] };

	const enteredAt = new Map<string, number>();
	const total = Math.round(args.usersPerSecond * args.arrivalSeconds);
	let next = 0;
	const started = wallNow();
	const submits: Array<Promise<unknown>> = [];
	// A steady schedule: at each tick, the users due by now enter (a late tick catches up).
	while (next < total) {
		const due = Math.min(total, Math.floor(((wallNow() - started) / 1000) * args.usersPerSecond));
		if (due > next) {
			const users: SyncUser[] = [];
			for (; next < due; next++) {
				const { ids } = hashUser(['email'], [emailOf(next)]);
				users.push({ key: dedupeKey(ids), ids });
			}
			const now = wallNow();
			for (const user of users) enteredAt.set(user.ids[0] as string, now);
			// A webhook execution that returns at once, its users pending (waitForDelivery off).
			submits.push(coordinator.submit({ scope, destination, users, send, pacer, waitForDelivery: false }));
		}
		await sleep(args.tickMs);
	}
	const arrivalRate = total / ((wallNow() - started) / 1000);
	await Promise.all(submits);
	// Let the last window close by itself (a flush would cut it short and flatter the figures).
	const deadline = wallNow() + DEFAULT_WINDOW_MS + 10_000;
	while (coordinator.report(scope).synced < total && wallNow() < deadline) await sleep(50);
	const synced = coordinator.report(scope).synced;
	coordinator.reset();

	const accepts = await serverAccepts(urls);
	if (accepts.length !== requests.length) {
		throw new Error(`the API accepted ${accepts.length} mapping requests, the engine sent ${requests.length}`);
	}
	const latencies: number[] = [];
	const clientLatencies: number[] = [];
	requests.forEach((request, index) => {
		if (accepts[index].rows !== request.ids.length) throw new Error(`request ${index}: rows differ between client and API`);
		for (const id of request.ids) {
			const entered = enteredAt.get(id) as number;
			latencies.push(accepts[index].at - entered);
			clientLatencies.push(request.answeredAt - entered);
		}
	});
	latencies.sort((a, b) => a - b);
	clientLatencies.sort((a, b) => a - b);
	return {
		usersPerSecond: args.usersPerSecond,
		arrivalSeconds: args.arrivalSeconds,
		windowMs: DEFAULT_WINDOW_MS,
		users: total,
		synced,
		requests: requests.length,
		p50Ms: percentile(latencies, 50),
		p99Ms: percentile(latencies, 99),
		maxMs: latencies[latencies.length - 1],
		minMs: latencies[0],
		clientP99Ms: percentile(clientLatencies, 99),
		arrivalRate,
	};
}
