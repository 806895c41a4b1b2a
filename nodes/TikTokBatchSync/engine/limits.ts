/*
 * The engine's timing and size limits, one place each (the retry schedule is in failurePolicy.ts, the reason cap in
 * counters.ts, pacing in the transport's rateLimit.ts).
 */

/** Requests of one scope a process sends at once (pacing aside): 16 × 10,000 users at 100–300 ms each ≫ 50 requests/s. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16;

/** How long a request claimed by one process is its own before another may send it (renewed while it is sent). */
export const DEFAULT_LEASE_MS = 30_000;
export const MIN_LEASE_MS = 1_000;

/*
 * A leased request's attempt, counted from its claim. The lease is renewed every third of it, so two renewals in a
 * row can fail before it lapses. The request must leave within a quarter of the lease (the pacer's wait) and be
 * answered within half of it (the send), both well inside the lease; otherwise the holder gives it back or aborts it.
 * A request is never written after its holder's lease ran out by the holder's own clock.
 */
export function renewEveryMs(leaseMs: number): number {
	return Math.floor(leaseMs / 3);
}

export function paceBudgetMs(leaseMs: number): number {
	return Math.floor(leaseMs / 4);
}

export function sendBudgetMs(leaseMs: number): number {
	return Math.floor(leaseMs / 2);
}

/**
 * After a takeover (the old holder's lease lapsed), a copy of the request may still reach TikTok until the old lease's
 * end plus the old holder's send budget; this margin covers clock skew between processes and the network. Until then
 * the audience's later requests with the other action wait, so the users' last action is the one TikTok applies last.
 */
export const FENCE_MARGIN_MS = 2_000;

/** How far down a chain of held-back requests a waiting run looks for one waiting for its retry. */
export const MAX_CHAIN = 50;

/** Shared state outlives the retry horizon by this much after its last write, then Redis drops it. */
export const KEY_MARGIN_MS = 24 * 3_600_000;

/** How long the outcome of a settled request stays readable for runs waiting for delivery (shared state). */
export const OUTCOME_KEEP_MS = 10 * 60_000;

/** A flush stops waiting after this long (what is left goes on in the background). */
export const FLUSH_WAIT_LIMIT_MS = 10 * 60_000;

/** At shutdown, requests in flight get this long to be answered and settled. */
export const SHUTDOWN_WAIT_MS = 10_000;

/** A scope's journal file is rewritten whole once its appends pass this size and twice its last rewrite. */
export const JOURNAL_COMPACT_MIN_BYTES = 1 << 20;

/** How long Sync Users reuses the connection read from its credential (ms) before reading the credential again. */
export const SENDER_REUSE_MS = 5_000;
