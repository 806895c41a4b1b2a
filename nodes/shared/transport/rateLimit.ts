import { TokenBucket } from 'limiter';

import { processWide } from '../processWide';

/**
 * TikTok's Segment API allows 50 requests per second per app. Every node and workflow in this n8n process that uses
 * the same app shares one bucket, so two workflows cannot add up to more than the ceiling. A caller may ask for a
 * lower rate: it then gets its own child bucket whose parent is the app's bucket.
 *
 * The buckets hold one token: requests are spaced evenly (20 ms at 50/s) instead of bursting, so no sliding
 * one-second window ever sees more than the rate.
 */
export const TIKTOK_MAX_REQUESTS_PER_SECOND = 50;

export interface RequestPacer {
	/** Resolves when the next request may start. */
	acquire(): Promise<void>;
}

interface Registry {
	apps: Map<string, TokenBucket>;
	children: Map<string, TokenBucket>;
}

function registry(): Registry {
	return processWide<Registry>('rate-limit-registry', () => ({ apps: new Map(), children: new Map() }));
}

// Requests leave evenly spaced but can arrive bunched (network jitter, a busy event loop on either side); a 5% longer
// interval keeps TikTok's sliding-second count under the limit even then.
export const PACING_INTERVAL_MS = 1050;

function newBucket(requestsPerSecond: number, parentBucket?: TokenBucket): TokenBucket {
	const bucket = new TokenBucket({ bucketSize: 1, tokensPerInterval: requestsPerSecond, interval: PACING_INTERVAL_MS, parentBucket });
	// A fresh bucket starts empty; start with one token so the first request is not delayed.
	bucket.content = 1;
	return bucket;
}

/** A caller's rate within the app's budget: (0, 50]; 50 when absent or not a positive number. */
export function clampRate(requestsPerSecond: number | undefined): number {
	if (requestsPerSecond === undefined || !Number.isFinite(requestsPerSecond) || requestsPerSecond <= 0) {
		return TIKTOK_MAX_REQUESTS_PER_SECOND;
	}
	return Math.min(requestsPerSecond, TIKTOK_MAX_REQUESTS_PER_SECOND);
}

/**
 * Where pacers come from when an app's budget is shared with other n8n processes (queue mode: the Batch Sync engine
 * installs a Redis-backed factory). Unset: this process's buckets below.
 */
export type SharedPacerFactory = (appKey: string, options: { callerKey?: string; requestsPerSecond?: number }) => RequestPacer;

function sharedPacers(): { factory?: SharedPacerFactory } {
	return processWide<{ factory?: SharedPacerFactory }>('shared-pacers', () => ({}));
}

export function useSharedPacers(factory: SharedPacerFactory | undefined): void {
	sharedPacers().factory = factory;
}

/**
 * The pacer for requests of one TikTok app (key: the app ID, or a digest of the token when no app ID is known).
 * `callerKey` and `requestsPerSecond` give one caller a lower rate inside the app's budget.
 */
export function pacerFor(appKey: string, options: { callerKey?: string; requestsPerSecond?: number } = {}): RequestPacer {
	const { factory } = sharedPacers();
	if (factory) return factory(appKey, options);
	const { apps, children } = registry();
	let appBucket = apps.get(appKey);
	if (!appBucket) {
		appBucket = newBucket(TIKTOK_MAX_REQUESTS_PER_SECOND);
		apps.set(appKey, appBucket);
	}
	const rate = clampRate(options.requestsPerSecond);
	let bucket = appBucket;
	if (rate < TIKTOK_MAX_REQUESTS_PER_SECOND && options.callerKey) {
		const childKey = `${appKey}\u0000${options.callerKey}\u0000${rate}`;
		let child = children.get(childKey);
		if (!child) {
			child = newBucket(rate, appBucket);
			children.set(childKey, child);
		}
		bucket = child;
	}
	return {
		acquire: async () => {
			await bucket.removeTokens(1);
		},
	};
}

/** Forget every bucket (tests only: each test starts with a full budget). */
export function resetPacers(): void {
	const { apps, children } = registry();
	apps.clear();
	children.clear();
}
