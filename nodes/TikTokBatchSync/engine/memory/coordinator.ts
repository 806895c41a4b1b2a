import { randomUUID } from 'node:crypto';

import type { Chunk } from '../chunk';
import { emptyCounters, type Counters } from '../counters';
import { decodeJournalChunks, encodeJournal, parseJournal, type Journal } from '../journal';
import { resolveSettings, type SyncSettings } from '../settings';
import { Scheduler, type SchedulerOptions } from '../scheduler';
import type { RequestPacer, SendMapping } from '../types';
import { MemoryStore, type MemoryClaim, type MemoryPlacement } from './store';

export type CoordinatorOptions = Omit<SchedulerOptions, 'leaseMs'>;

export interface RestoreSummary {
	/** Users put back in the queue (0 when there was nothing, or when this scope was restored already). */
	restoredUsers: number;
}

/**
 * The engine of a regular n8n process: the scheduler on in-memory state, which the node journals at each execution
 * end (a file per scope, engine/journalLog.ts, from unsettledChunks and report) and the next process takes back
 * (restore). exportJournal gives the same state as one Journal object.
 */
export class SyncCoordinator extends Scheduler<MemoryClaim, MemoryPlacement, MemoryStore> {
	readonly kind = 'in-process';
	private instanceId = randomUUID();

	constructor(options: CoordinatorOptions) {
		super(options);
	}

	protected newStore(): MemoryStore {
		return new MemoryStore();
	}

	report(scopeName: string): Counters {
		return this.scopes.get(scopeName)?.store.report() ?? emptyCounters();
	}

	/** Counts users the node refused before the engine (synchronous here). */
	recordNotSynced(scopeName: string, reasons: ReadonlyArray<string>): Promise<void> {
		this.scopeOf(scopeName).store.recordNotSynced(reasons);
		return Promise.resolve();
	}

	/** Counters plus every user not yet synced or errored, as one Journal. */
	exportJournal(scopeName: string): Journal {
		const store = this.scopes.get(scopeName)?.store;
		return encodeJournal({
			writer: this.instanceId,
			savedAt: this.clock.now(),
			counters: store?.report() ?? emptyCounters(),
			chunks: store?.unsettledChunks() ?? [],
		});
	}

	/** The scope's requests not yet synced or errored (forming, queued, in flight, waiting for a retry): its journal. */
	unsettledChunks(scopeName: string): Chunk[] {
		return this.scopes.get(scopeName)?.store.unsettledChunks() ?? [];
	}

	/**
	 * Takes back what an earlier process journaled: its users are queued for sending right away (those past their
	 * horizon are errored) and its counters are added. Acts once per scope per process, and ignores a journal this
	 * coordinator wrote itself, so calling it from every execution never duplicates users. Call it before the
	 * scope's first submit; `journal` may be undefined (nothing saved yet). Throws JournalFormatError for a journal
	 * it cannot read (once: the scope then counts as restored).
	 */
	restore(scopeName: string, journal: unknown, send: SendMapping, pacer: RequestPacer, settings?: Partial<SyncSettings>): RestoreSummary {
		const scope = this.scopeOf(scopeName);
		if (scope.store.restored) return { restoredUsers: 0 };
		scope.store.restored = true;
		if (settings) scope.settings = resolveSettings(settings, this.requestCapacity);
		scope.send = send;
		scope.pacer = pacer;
		if (journal === undefined || journal === null) return { restoredUsers: 0 };
		const saved = parseJournal(journal);
		if (saved.writer === this.instanceId) return { restoredUsers: 0 };
		const { chunks, users } = decodeJournalChunks(saved, scope.settings.usersPerRequest);
		scope.store.restore(chunks, saved.counters, users, this.clock.now());
		this.pump(scope);
		return { restoredUsers: users };
	}

	hasRestored(scopeName: string): boolean {
		return this.scopes.get(scopeName)?.store.restored ?? false;
	}

	/** Forgets everything (tests). Waiting submits resolve; in-flight sends finish unobserved. */
	reset(): void {
		super.reset();
		this.instanceId = randomUUID();
	}
}
