/** Time as the engine sees it. Injected so tests can cover a 13 h retry horizon in milliseconds of real time. */
export interface Clock {
	now(): number;
	setTimeout(callback: () => void, delayMs: number): unknown;
	clearTimeout(handle: unknown): void;
}

// Node turns delays above 2^31 - 1 ms into 1 ms timers; callers re-check the time when a timer fires.
const MAX_TIMER_DELAY_MS = 2_147_483_647;

/** Wall-clock time with unref'd timers: pending retries must never keep a process alive on their own. */
export const realClock: Clock = {
	now: () => Date.now(),
	setTimeout: (callback, delayMs) => {
		const handle = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_DELAY_MS));
		handle.unref();
		return handle;
	},
	clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
