import { performance } from 'node:perf_hooks';

const WINDOW_MS = 1000;

/**
 * Timestamps of events in the last second, in arrival order. The busiest sliding window always ends at some event,
 * so recording the count at each event gives the exact maximum over all windows.
 */
class SlidingSecond {
	private readonly times: number[] = [];
	private head = 0;
	max = 0;

	/** Events in (now - 1000 ms, now]. */
	countAt(now: number): number {
		const cutoff = now - WINDOW_MS;
		while (this.head < this.times.length && this.times[this.head] <= cutoff) this.head++;
		// Drop the consumed prefix now and then rather than shifting on every event.
		if (this.head > 1024 && this.head * 2 > this.times.length) {
			this.times.splice(0, this.head);
			this.head = 0;
		}
		return this.times.length - this.head;
	}

	record(now: number): void {
		const count = this.countAt(now) + 1;
		this.times.push(now);
		if (count > this.max) this.max = count;
	}
}

interface AppWindows {
	accepted: SlidingSecond;
	/** Accepted and rejected together: what the client actually sent. */
	attempts: SlidingSecond;
	rejected: number;
}

export interface RateLimitStats {
	rejected: number;
	rejectedByApp: Record<string, number>;
	/** Most accepted requests seen in any sliding second, across all apps. */
	maxAccepted: number;
	maxAcceptedByApp: Record<string, number>;
	/** Most requests (accepted or not) the clients sent in any sliding second. */
	maxAttempted: number;
	maxAttemptedByApp: Record<string, number>;
}

/**
 * TikTok's per-app limit: a request is refused when the app already had `limit` accepted requests in the last
 * 1000 ms. Refused requests do not use up budget, so a client that backs off gets through again at once.
 */
export class AppRateLimiter {
	private readonly byApp = new Map<string, AppWindows>();
	private overallAccepted = new SlidingSecond();
	private overallAttempts = new SlidingSecond();

	admit(appId: string, limit: number, now = performance.now()): boolean {
		let windows = this.byApp.get(appId);
		if (!windows) {
			windows = { accepted: new SlidingSecond(), attempts: new SlidingSecond(), rejected: 0 };
			this.byApp.set(appId, windows);
		}
		windows.attempts.record(now);
		this.overallAttempts.record(now);
		if (windows.accepted.countAt(now) >= limit) {
			windows.rejected++;
			return false;
		}
		windows.accepted.record(now);
		this.overallAccepted.record(now);
		return true;
	}

	reset(): void {
		this.byApp.clear();
		this.overallAccepted = new SlidingSecond();
		this.overallAttempts = new SlidingSecond();
	}

	stats(): RateLimitStats {
		const result: RateLimitStats = {
			rejected: 0,
			rejectedByApp: {},
			maxAccepted: this.overallAccepted.max,
			maxAcceptedByApp: {},
			maxAttempted: this.overallAttempts.max,
			maxAttemptedByApp: {},
		};
		for (const [appId, windows] of this.byApp) {
			result.rejected += windows.rejected;
			result.rejectedByApp[appId] = windows.rejected;
			result.maxAcceptedByApp[appId] = windows.accepted.max;
			result.maxAttemptedByApp[appId] = windows.attempts.max;
		}
		return result;
	}
}
