import { SendFailure } from './errors';
import type { FailureInfo } from './types';

/*
 * What happens after a failed request (chunk of users), in one place. Retry schedule, counted in failed attempts
 * n = 1, 2, 3, …:
 *
 *   delay(n) = min(15 min, base · 2^(n-1)) · jitter,  jitter uniform in [0.8, 1.2)
 *
 *   base  5 s  (retryable and reauthorize failures):  5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s, 640 s, then 15 min
 *   base 60 s  (rate-limit failures: 40100, 40016, 40132, 61000, HTTP 429): 60 s, 120 s, 240 s, 480 s, then 15 min.
 *              TikTok asks clients to stay away for a while after a QPM breach, so the whole scope holds new
 *              requests for that long too.
 *
 * That is about 59 attempts in the default 13 h horizon. A user still undelivered at enteredAt + horizon is
 * errored, whatever attempt is due next. Permanent failures are errored at once. Jitter spreads the chunks of one
 * outage so they do not come back in lockstep.
 */
export const RETRY_BASE_MS = 5_000;
export const RATE_LIMIT_RETRY_BASE_MS = 60_000;
export const RETRY_CAP_MS = 15 * 60_000;
const JITTER_SPREAD = 0.4;

/** `random` returns [0, 1); 0.5 gives the nominal delay. */
export function retryDelayMs(failures: number, isRateLimit: boolean, random: () => number): number {
	const base = isRateLimit ? RATE_LIMIT_RETRY_BASE_MS : RETRY_BASE_MS;
	const exponent = Math.min(Math.max(failures, 1) - 1, 30);
	const nominal = Math.min(RETRY_CAP_MS, base * 2 ** exponent);
	return Math.round(nominal * (1 - JITTER_SPREAD / 2 + JITTER_SPREAD * random()));
}

/** What the sender said, or, for anything it did not classify (a bug, a socket failing oddly), a retryable failure. */
export function failureInfoOf(error: unknown): FailureInfo {
	if (SendFailure.is(error)) return error.info;
	const message = error instanceof Error ? `${error.name}: ${error.message}` : `unexpected failure: ${String(error)}`;
	return { errorClass: 'retryable', isRateLimit: false, reason: message.length > 300 ? `${message.slice(0, 299)}…` : message };
}

export type FailureDecision =
	| { kind: 'giveUp'; reason: string }
	/** Try again at `dueAt`; after a rate limit nothing new leaves the scope before `holdUntil`. */
	| { kind: 'retry'; dueAt: number; holdUntil?: number };

/** Whether users that entered at `lastEnteredAt` are past the retry horizon at `now`. */
export function isPastHorizon(lastEnteredAt: number, retryHorizonMs: number, now: number): boolean {
	return now >= lastEnteredAt + retryHorizonMs;
}

/**
 * The users of a chunk are past the horizon (checked before each attempt and whenever a retry comes due): they
 * are errored with the last failure as the reason.
 */
export function horizonReason(retryHorizonMs: number, lastError: string | undefined): string {
	return `gave up after ${formatDuration(retryHorizonMs)} of retries: ${lastError ?? NO_ATTEMPT}`;
}

/** The horizon's reason when no attempt was made at all. */
export const NO_ATTEMPT = 'no attempt could be made';

/** After a failed attempt (already recorded on the chunk as its `failures`-th): give up, or retry when. */
export function decideAfterFailure(args: {
	failure: FailureInfo;
	failures: number;
	lastEnteredAt: number;
	retryHorizonMs: number;
	now: number;
	random: () => number;
}): FailureDecision {
	const { failure, now } = args;
	if (failure.errorClass === 'permanent') return { kind: 'giveUp', reason: failure.reason };
	const horizon = args.lastEnteredAt + args.retryHorizonMs;
	if (now >= horizon) return { kind: 'giveUp', reason: horizonReason(args.retryHorizonMs, failure.reason) };
	const delay = retryDelayMs(args.failures, failure.isRateLimit, args.random);
	return {
		kind: 'retry',
		dueAt: Math.min(now + delay, horizon),
		...(failure.isRateLimit ? { holdUntil: now + delay } : {}),
	};
}

export function formatDuration(ms: number): string {
	const hours = ms / 3_600_000;
	if (hours >= 1) return `${Number(hours.toFixed(1))} h`;
	const minutes = ms / 60_000;
	if (minutes >= 1) return `${Number(minutes.toFixed(1))} min`;
	return `${Number((ms / 1000).toFixed(1))} s`;
}
