import type { RedisClient } from './store';

/** How long one blocking read waits before it is issued again (Redis does nothing for a blocked client meanwhile). */
export const WATCH_BLOCK_MS = 10_000;
/**
 * A safety net, not a poll: this often an idle watch also claims once, in case the one process a work marker woke
 * died before it acted (every other path to the work is a marker or a time a claim announced).
 */
export const WATCH_SWEEP_MS = 60_000;

export interface WatchEvents {
	/** The work marker: something may be claimed from `at` on. */
	work(at: number): void;
	/** A settle elsewhere while this process has runs waiting. */
	wake(): void;
	/** The safety sweep is due. */
	sweep(): void;
}

/**
 * How a process learns what other processes did to a scope without polling (BullMQ's pattern): on a connection of
 * its own it blocks in BZPOPMIN on the scope's work marker `mk` and on its own wake key `wk:<process>`. Scripts that
 * make work claimable set the marker (one idle process takes it and claims; a claim that leaves more work sets it
 * again); settles add to the wake key of every process registered with waiting runs.
 */
export class ScopeWatch {
	private blocking?: RedisClient;
	private stopped = false;
	private running?: Promise<void>;

	constructor(
		private readonly redis: RedisClient,
		private readonly base: string,
		private readonly processId: string,
		private readonly events: WatchEvents,
	) {}

	start(): void {
		if (this.running || this.stopped) return;
		this.blocking = this.redis.duplicate() as RedisClient;
		// Errors surface on the blocking call below; without a listener ioredis would print them.
		this.blocking.on('error', () => undefined);
		this.running = this.loop().catch(() => undefined);
	}

	stop(): void {
		this.stopped = true;
		this.blocking?.disconnect();
	}

	private async loop(): Promise<void> {
		const blocking = this.blocking as RedisClient;
		const marker = `${this.base}mk`;
		const wake = `${this.base}wk:${this.processId}`;
		let sweepAt = Date.now() + WATCH_SWEEP_MS;
		while (!this.stopped) {
			let popped: [string, string, string] | null;
			try {
				popped = (await blocking.bzpopmin(marker, wake, WATCH_BLOCK_MS / 1000)) as [string, string, string] | null;
			} catch {
				if (this.stopped) return;
				// Redis is away: the engine's own calls report it; look again in a while.
				await new Promise((resolve) => setTimeout(resolve, 1_000));
				continue;
			}
			if (this.stopped) return;
			if (popped?.[0] === marker) this.events.work(Number(popped[2]));
			else if (popped) this.events.wake();
			if (Date.now() >= sweepAt) {
				sweepAt = Date.now() + WATCH_SWEEP_MS;
				this.events.sweep();
			}
		}
	}
}
