/**
 * Cumulative per-scope metrics, the reference product's: Entered, Synced, Not Synced, Pending, Errored.
 * Invariant, kept by moving users between buckets and never adjusting one alone:
 *   entered = synced + notSynced + pending + errored
 */
export interface Counters {
	entered: number;
	synced: number;
	notSynced: number;
	pending: number;
	errored: number;
	/** Of the synced: added to their audience, and removed from it. */
	added: number;
	removed: number;
	/** How many users were not synced, per reason. */
	notSyncedReasons: Record<string, number>;
	/** How many users errored, per reason. */
	erroredReasons: Record<string, number>;
}

// Reasons carry TikTok messages; bound the tallies so the journal stays small if TikTok varies its wording.
export const MAX_DISTINCT_REASONS = 25;
export const OTHER_REASONS = '(other reasons)';

export class CounterBook {
	entered = 0;
	synced = 0;
	notSynced = 0;
	pending = 0;
	errored = 0;
	added = 0;
	removed = 0;
	private readonly notSyncedReasons = new Map<string, number>();
	private readonly erroredReasons = new Map<string, number>();

	admit(users: number): void {
		this.entered += users;
		this.pending += users;
	}

	recordNotSynced(reasons: ReadonlyArray<string>): void {
		this.entered += reasons.length;
		this.notSynced += reasons.length;
		for (const reason of reasons) tally(this.notSyncedReasons, reason, 1);
	}

	delivered(users: number, action: 'add' | 'delete'): void {
		this.pending -= users;
		this.synced += users;
		if (action === 'delete') this.removed += users;
		else this.added += users;
	}

	errorPending(users: number, reason: string): void {
		this.pending -= users;
		this.errored += users;
		tally(this.erroredReasons, reason, users);
	}

	/** Adds counters saved by an earlier process; `pending` is what was actually restored, so the sum stays whole. */
	absorb(saved: Counters, restoredPending: number): void {
		this.add({ ...saved, pending: restoredPending, entered: saved.synced + saved.notSynced + saved.errored + restoredPending });
	}

	/** Adds other counters bucket by bucket (the invariant holds for the sum when it holds for each). */
	add(counters: Counters): void {
		this.entered += counters.entered;
		this.synced += counters.synced;
		this.notSynced += counters.notSynced;
		this.pending += counters.pending;
		this.errored += counters.errored;
		// Journals written before per-user actions have no split: their synced users count as neither.
		this.added += counters.added ?? 0;
		this.removed += counters.removed ?? 0;
		for (const [reason, count] of Object.entries(counters.notSyncedReasons)) tally(this.notSyncedReasons, reason, count);
		for (const [reason, count] of Object.entries(counters.erroredReasons)) tally(this.erroredReasons, reason, count);
	}

	snapshot(): Counters {
		return {
			entered: this.entered,
			synced: this.synced,
			notSynced: this.notSynced,
			pending: this.pending,
			errored: this.errored,
			added: this.added,
			removed: this.removed,
			notSyncedReasons: Object.fromEntries(this.notSyncedReasons),
			erroredReasons: Object.fromEntries(this.erroredReasons),
		};
	}
}

export function emptyCounters(): Counters {
	return new CounterBook().snapshot();
}

function tally(reasons: Map<string, number>, reason: string, count: number): void {
	const key = reasons.has(reason) || reasons.size < MAX_DISTINCT_REASONS ? reason : OTHER_REASONS;
	reasons.set(key, (reasons.get(key) ?? 0) + count);
}

/** How many times each reason occurs (the reasons of one run's users). */
export function tallyReasons(reasons: Iterable<string | undefined>): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const reason of reasons) if (reason) counts[reason] = (counts[reason] ?? 0) + 1;
	return counts;
}

/** The sum of several scopes' counters (Flush & Report's totals over every Batch Sync node of a workflow). */
export function mergeCounters(all: Iterable<Counters>): Counters {
	const book = new CounterBook();
	for (const counters of all) book.add(counters);
	return book.snapshot();
}
