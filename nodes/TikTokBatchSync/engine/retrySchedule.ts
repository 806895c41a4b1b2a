import { isTikTokApiError, type TikTokErrorClass } from '../../shared/transport/errors';

/*
 * Retry schedule, per request (chunk of users), counted in failed attempts n = 1, 2, 3, …:
 *
 *   delay(n) = min(15 min, base · 2^(n-1)) · jitter,  jitter uniform in [0.8, 1.2)
 *
 *   base  5 s  (retryable and reauthorize failures):  5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s, 640 s, then 15 min
 *   base 60 s  (rate-limit failures: 40100, 40016, 40132, 61000, HTTP 429): 60 s, 120 s, 240 s, 480 s, then 15 min.
 *              TikTok asks clients to stay away for a while after a QPM breach, so the whole scope holds new
 *              requests for that long too (see coordinator).
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

export interface FailureInfo {
	errorClass: TikTokErrorClass;
	isRateLimit: boolean;
	/** Short, user-facing; carries TikTok's code and message, never identifiers. */
	reason: string;
}

const MAX_REASON_LENGTH = 300;

/** Anything that is not a TikTokApiError (a bug, a broken socket surfacing oddly) is worth retrying. */
export function describeFailure(error: unknown): FailureInfo {
	if (isTikTokApiError(error)) {
		const label =
			error.code !== undefined
				? `TikTok error ${error.code}`
				: error.httpStatus !== undefined
					? `TikTok HTTP ${error.httpStatus}`
					: 'TikTok request failed';
		return {
			errorClass: error.errorClass,
			isRateLimit: error.isRateLimit,
			reason: truncate(`${label}: ${error.tiktokMessage}`),
		};
	}
	const message = error instanceof Error ? `${error.name}: ${error.message}` : `unexpected failure: ${String(error)}`;
	return { errorClass: 'retryable', isRateLimit: false, reason: truncate(message) };
}

export function giveUpReason(retryHorizonMs: number, lastError: string | undefined): string {
	return `gave up after ${formatDuration(retryHorizonMs)} of retries: ${lastError ?? 'no attempt could be made'}`;
}

export function formatDuration(ms: number): string {
	const hours = ms / 3_600_000;
	if (hours >= 1) return `${Number(hours.toFixed(1))} h`;
	const minutes = ms / 60_000;
	if (minutes >= 1) return `${Number(minutes.toFixed(1))} min`;
	return `${Number((ms / 1000).toFixed(1))} s`;
}

function truncate(text: string): string {
	return text.length > MAX_REASON_LENGTH ? `${text.slice(0, MAX_REASON_LENGTH - 1)}…` : text;
}
