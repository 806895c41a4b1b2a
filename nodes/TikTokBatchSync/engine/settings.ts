/** How one scope gathers, sends and retries its users. */
export interface SyncSettings {
	/** How long users are gathered before a request goes out; the timer starts with the first user. */
	windowMs: number;
	/** Users per request, at most what the receiving API takes (TikTok: 10,000). A full request goes out at once. */
	usersPerRequest: number;
	/** Users not delivered this long after they entered are errored. */
	retryHorizonMs: number;
	/** Pending users a scope may hold (memory and journal size bound). */
	maxPendingUsers: number;
}

/*
 * Defaults, Braze's: a 5 s window and 13 h of retries. maxPendingUsers = 80,000 was set below the backlog at which
 * the static-data journal of earlier builds cost 100 ms per execution end (n8n rewrites the whole blob at every execution end:
 * writeJournals + JSON.stringify + JSON.parse). The bench's journal phase put that point at 84,524 / 87,596 / 96,271
 * pending users in 3 runs on 2026-11-30 (2-vCPU VM shared with other test runs, load average ~5; an issue report
 * measured ~194,000 on a quieter machine); the default takes the lowest run, rounded down. A healthy API drains
 * 80,000 users in 8 requests (~0.2 s at 50 requests/s), so the bound only fills during an outage; it costs ~3.4 MB of
 * journal (42.7 B per user) and ~7–13 MB of heap. Beyond it the node pushes back. The journal file that replaced
 * static data costs the same per execution end at any backlog (bench/NOTES.md, issue 19); the bound still caps the
 * heap and the file's rewrite when a process takes a node back (~80 ms at 100,000). (Queue mode keeps the backlog in
 * Redis: the same default applies per scope there.)
 */
export const DEFAULT_WINDOW_MS = 5_000;
export const DEFAULT_RETRY_HORIZON_MS = 13 * 3_600_000;
export const DEFAULT_MAX_PENDING_USERS = 80_000;

/** The settings a scope uses when it names none: the defaults, with full requests of `requestCapacity` users. */
export function defaultSyncSettings(requestCapacity: number): SyncSettings {
	return {
		windowMs: DEFAULT_WINDOW_MS,
		usersPerRequest: requestCapacity,
		retryHorizonMs: DEFAULT_RETRY_HORIZON_MS,
		maxPendingUsers: DEFAULT_MAX_PENDING_USERS,
	};
}

/**
 * Complete, usable settings from what the caller gave: missing or unusable values take the defaults, requests never
 * exceed `requestCapacity`. (The node validates its options and reports bad values; this only keeps the engine sane.)
 */
export function resolveSettings(settings: Partial<SyncSettings> = {}, requestCapacity: number): SyncSettings {
	const defaults = defaultSyncSettings(requestCapacity);
	const pick = (value: number | undefined, fallback: number, min: number) =>
		value !== undefined && Number.isFinite(value) && value >= min ? value : fallback;
	const usersPerRequest = Math.min(requestCapacity, Math.floor(pick(settings.usersPerRequest, defaults.usersPerRequest, 1)));
	return {
		windowMs: pick(settings.windowMs, defaults.windowMs, 0),
		usersPerRequest,
		retryHorizonMs: pick(settings.retryHorizonMs, defaults.retryHorizonMs, 1),
		// At least one full request, or a large submit could never fill one.
		maxPendingUsers: Math.max(usersPerRequest, Math.floor(pick(settings.maxPendingUsers, defaults.maxPendingUsers, 1))),
	};
}
