import type { Clock } from '../../nodes/TikTokBatchSync/engine';

export const T0 = 1_700_000_000_000;
export const SECOND = 1_000;
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
/** How many times settle() waits for the engine to become idle before it fails the test. */
export const SETTLE_ROUNDS = 100;

/** A manual clock: timers run only inside advance(), in time order, with promise callbacks drained after each. */
export class FakeClock implements Clock {
	private time: number;
	private nextId = 1;
	private readonly timers = new Map<number, { at: number; callback: () => void }>();
	/**
	 * Resolves when the engine under test has no I/O under way (with whether it was idle already): an engine on
	 * Redis needs real round trips between two timers, which a few turns of the event loop do not cover.
	 */
	idle?: () => Promise<boolean>;

	constructor(start = T0) {
		this.time = start;
	}

	now(): number {
		return this.time;
	}

	setTimeout(callback: () => void, delayMs: number): unknown {
		const id = this.nextId++;
		this.timers.set(id, { at: this.time + Math.max(0, delayMs), callback });
		return id;
	}

	clearTimeout(handle: unknown): void {
		this.timers.delete(handle as number);
	}

	get pendingTimers(): number {
		return this.timers.size;
	}

	async advance(ms: number): Promise<void> {
		await this.advanceTo(this.time + ms);
	}

	async advanceTo(target: number): Promise<void> {
		await this.settle();
		for (;;) {
			const next = this.nextTimerAt();
			if (next === undefined || next > target) break;
			this.setTime(next);
			this.fireOneDue();
			await this.settle();
		}
		this.setTime(target);
		await this.settle();
	}

	/** Lets pending promise callbacks run and, with an `idle` hook, the engine's I/O finish. */
	async settle(): Promise<void> {
		await settle();
		if (!this.idle) return;
		for (let round = 0; round < SETTLE_ROUNDS; round++) {
			const wasIdle = await this.idle();
			await settle();
			if (wasIdle) return;
		}
		// Never taken for idle: an engine that keeps doing I/O between two timers is a bug the test must see.
		throw new Error(`the engine was still busy after ${SETTLE_ROUNDS} rounds of waiting for it to be idle`);
	}

	/** When the earliest timer is due, if any. */
	nextTimerAt(): number | undefined {
		let next: number | undefined;
		for (const timer of this.timers.values()) if (next === undefined || timer.at < next) next = timer.at;
		return next;
	}

	/** Moves time forward (never back) to `time`, firing nothing. */
	setTime(time: number): void {
		this.time = Math.max(this.time, time);
	}

	/** Fires the earliest timer due by now, if any; returns whether one fired. */
	fireOneDue(): boolean {
		let nextId = -1;
		let nextAt = Infinity;
		for (const [id, timer] of this.timers) {
			if (timer.at <= this.time && timer.at < nextAt) {
				nextAt = timer.at;
				nextId = id;
			}
		}
		if (nextId === -1) return false;
		const timer = this.timers.get(nextId) as { callback: () => void };
		this.timers.delete(nextId);
		timer.callback();
		return true;
	}
}

/** Lets every pending promise callback run. */
export async function settle(): Promise<void> {
	for (let round = 0; round < 3; round++) await new Promise((resolve) => setImmediate(resolve));
}
