import type { RedisClient } from './store';

/** How long one blocking read waits before it is issued again (Redis does nothing for a blocked client meanwhile). */
export const WATCH_BLOCK_MS = 10_000;
/**
 * A safety net, not a poll: this often an idle watch also claims once per scope, in case the one process a work
 * marker woke died before it acted (every other path to the work is a marker or a time a claim announced).
 */
export const WATCH_SWEEP_MS = 60_000;
/** The interrupt key outlives a process that died between setting and reading it by this much at most. */
const INTERRUPT_TTL_MS = 60_000;

export interface WatchEvents {
	/** The work marker: something may be claimed from `at` on. */
	work(at: number): void;
	/** A settle elsewhere while this process has runs waiting. */
	wake(): void;
	/** The safety sweep is due. */
	sweep(): void;
}

interface Watched {
	marker: string;
	wake: string;
	events: WatchEvents;
}

/**
 * How a process learns what other processes did to its scopes without polling (BullMQ's pattern): on one connection
 * of its own it blocks in a single BZPOPMIN on every watched scope's work marker `mk` and its own wake key
 * `wk:<process>` in that scope, plus an interrupt key of its own. Scripts that make work claimable set the marker
 * (one idle process takes it and claims; a claim that leaves more work sets it again); settles add to the wake key of
 * every process registered with waiting runs. A scope added or dropped interrupts the read (a write to the interrupt
 * key) so the next one waits on the new set of keys: one blocking connection per process, whatever the scopes.
 *
 * In a Redis Cluster each scope's keys hash to a slot of their own and one read cannot span slots: there the
 * coordinator makes one watch per scope.
 */
export class Watch {
	/** The connection of the read under way (undefined: no scope watched, no connection). */
	private blocking?: RedisClient;
	private stopped = false;
	private readonly scopes = new Map<string, Watched>();

	constructor(
		private readonly redis: RedisClient,
		private readonly processId: string,
		/** This process's interrupt key (undefined: one scope only, never interrupted). */
		private readonly interruptKey?: string,
	) {}

	has(base: string): boolean {
		return this.scopes.has(base);
	}

	/** Starts watching the scope whose keys start with `base`. */
	add(base: string, events: WatchEvents): void {
		if (this.stopped || this.scopes.has(base)) return;
		this.scopes.set(base, { marker: `${base}mk`, wake: `${base}wk:${this.processId}`, events });
		if (this.blocking) return this.interrupt();
		const blocking = this.redis.duplicate() as RedisClient;
		// Errors surface on the blocking call below; without a listener ioredis would print them.
		blocking.on('error', () => undefined);
		this.blocking = blocking;
		this.loop(blocking).catch(() => undefined);
	}

	/** Stops watching a scope (its keys leave the next read; the connection closes with the last scope). */
	remove(base: string): void {
		if (!this.scopes.delete(base)) return;
		if (this.scopes.size === 0) this.close();
		else this.interrupt();
	}

	stop(): void {
		this.stopped = true;
		this.scopes.clear();
		this.close();
	}

	private close(): void {
		const blocking = this.blocking;
		this.blocking = undefined;
		blocking?.disconnect();
	}

	/** Wakes the read under way so the next one waits on the new keys (the key empties when popped). */
	private interrupt(): void {
		if (!this.interruptKey) return;
		this.redis
			.multi()
			.zadd(this.interruptKey, 0, '0')
			.pexpire(this.interruptKey, INTERRUPT_TTL_MS)
			.exec()
			.catch(() => undefined);
	}

	private async loop(blocking: RedisClient): Promise<void> {
		let sweepAt = Date.now() + WATCH_SWEEP_MS;
		while (this.blocking === blocking) {
			const keys: string[] = [];
			const byKey = new Map<string, { watched: Watched; marker: boolean }>();
			for (const watched of this.scopes.values()) {
				keys.push(watched.marker, watched.wake);
				byKey.set(watched.marker, { watched, marker: true });
				byKey.set(watched.wake, { watched, marker: false });
			}
			if (this.interruptKey) keys.push(this.interruptKey);
			let popped: [string, string, string] | null;
			try {
				popped = (await blocking.bzpopmin(...keys, WATCH_BLOCK_MS / 1000)) as [string, string, string] | null;
			} catch {
				if (this.blocking !== blocking) return;
				// Redis is away: the engine's own calls report it; look again in a while.
				await new Promise((resolve) => setTimeout(resolve, 1_000));
				continue;
			}
			if (this.blocking !== blocking) return;
			const hit = popped ? byKey.get(popped[0]) : undefined;
			if (popped && hit) {
				const { watched, marker } = hit;
				const at = Number(popped[2]);
				if (this.scopes.get(baseOf(watched)) !== watched) {
					// Dropped while the read was out: its marker belongs to the processes still watching.
					if (marker) this.giveBack(watched.marker, at);
				} else if (marker) watched.events.work(at);
				else watched.events.wake();
			}
			if (Date.now() >= sweepAt) {
				sweepAt = Date.now() + WATCH_SWEEP_MS;
				for (const watched of [...this.scopes.values()]) watched.events.sweep();
			}
		}
	}

	private giveBack(marker: string, at: number): void {
		this.redis
			.multi()
			.zadd(marker, 'LT', at, '0')
			.pexpire(marker, INTERRUPT_TTL_MS)
			.exec()
			.catch(() => undefined);
	}
}

function baseOf(watched: Watched): string {
	return watched.marker.slice(0, -2);
}
