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
 * Defaults, Braze's: a 5 s window and 13 h of retries. maxPendingUsers = 250,000 because: a healthy API drains that
 * in 25 requests (~0.5 s at 50 requests/s), so it only fills during an outage; it costs ~11 MB of journal JSON in
 * workflow static data (n8n rewrites the whole blob at every execution end) and ~10–25 MB of heap; beyond that the
 * node should push back rather than grow a database row without limit.
 */
export const DEFAULT_WINDOW_MS = 5_000;
export const DEFAULT_RETRY_HORIZON_MS = 13 * 3_600_000;
export const DEFAULT_MAX_PENDING_USERS = 250_000;

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
