import { randomUUID } from 'node:crypto';

import { Chunk } from './chunk';
import { realClock, type Clock } from './clock';
import { emptyCounters, type Counters } from './counters';
import { BacklogFullError } from './errors';
import { decideAfterFailure, failureInfoOf, horizonReason, isPastHorizon } from './failurePolicy';
import { decodeJournalChunks, encodeJournal, parseJournal, type Journal } from './journal';
import { defaultSyncSettings, resolveSettings, type SyncSettings } from './settings';
import { carrierOf, runResult, type PlacedUsers } from './runResult';
import type { BatchSyncEngine } from './engine';
import { MemoryScopeState } from './state';
import type { RequestPacer, SendMapping, SubmitRequest, SubmitResult } from './types';
import { checkDestination, checkUsers } from './validation';

/** Requests of one scope in flight at once (pacing aside): 16 × 10,000 users at 100–300 ms each ≫ 50 requests/s. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16;

export interface CoordinatorOptions {
	/** Users the receiving API takes per request (TikTok: 10,000): the largest and default request size. */
	requestCapacity: number;
	clock?: Clock;
	/** [0, 1); drives retry jitter. */
	random?: () => number;
	maxRequestsInFlight?: number;
}

export interface RestoreSummary {
	/** Users put back in the queue (0 when there was nothing, or when this scope was restored already). */
	restoredUsers: number;
}

/**
 * The scheduler every Batch Sync execution in this process hands its users to. It gathers them per scope and
 * destination, sends full requests at the app's pace, acts on failures as the failure policy decides, and
 * exports/restores the scope's journal. What it keeps per scope is in state.ts.
 */
export class SyncCoordinator implements BatchSyncEngine {
	readonly kind = 'in-process';
	private readonly clock: Clock;
	private readonly random: () => number;
	private readonly maxInFlight: number;
	private readonly requestCapacity: number;
	private scopes = new Map<string, MemoryScopeState>();
	private instanceId = randomUUID();

	constructor(options: CoordinatorOptions) {
		this.clock = options.clock ?? realClock;
		this.random = options.random ?? Math.random;
		this.maxInFlight = Math.max(1, Math.floor(options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT));
		this.requestCapacity = Math.max(1, Math.floor(options.requestCapacity));
	}

	/**
	 * Accepts the users (in order) while the scope has room, waiting for room while requests are draining the
	 * backlog; users that still do not fit get 'rejected' and `rejection` explains it. Throws TypeError on malformed
	 * input (wrong number of ids, a user without any id) before accepting anything.
	 */
	async submit(request: SubmitRequest): Promise<SubmitResult> {
		const { users, destination } = request;
		checkDestination(destination);
		checkUsers(users, destination.idSchema.length);
		const scope = this.scopeState(request.scope);
		scope.settings = resolveSettings(request.settings, this.requestCapacity);
		this.useSender(scope, request.send, request.pacer);
		const notSyncedReasons = request.notSyncedReasons ?? [];
		if (notSyncedReasons.length > 0) scope.counters.recordNotSynced(notSyncedReasons);

		// Per user only an index into this run's (few) chunks: outcomes are tracked per chunk.
		const chunkIndexOfUser = new Int32Array(users.length).fill(-1);
		const chunks: Chunk[] = [];
		let rejection: BacklogFullError | undefined;
		let next = 0;
		while (next < users.length && !scope.disposed) {
			const room = scope.settings.maxPendingUsers - scope.counters.pending;
			if (room <= 0) {
				scope.cutWindows();
				if (!this.canDrainSoon(scope)) {
					rejection = BacklogFullError.of(scope, users.length - next);
					break;
				}
				await scope.nextChange();
				continue;
			}
			const end = Math.min(users.length, next + room);
			const now = this.clock.now();
			for (; next < end; next++) {
				const chunk = scope.admit(destination, users[next], now);
				if (chunks[chunks.length - 1] !== chunk) chunks.push(chunk);
				chunkIndexOfUser[next] = chunks.length - 1;
			}
		}
		const placed: PlacedUsers = { users, chunks, chunkIndexOfUser };
		if (request.waitForDelivery) await this.untilAttempted(scope, placed);
		return runResult(placed, notSyncedReasons.length, request.waitForDelivery, rejection);
	}

	/**
	 * Waits until the chunks carrying these users were attempted: synced, errored or scheduled for retry. A chunk
	 * queued during a rate-limit pause, or behind an earlier chunk of its audience that waits for a retry, is
	 * scheduled already: its users are pending, and the run does not wait out the pause or the retry (up to 15 min).
	 * A user moved by a later action in its window is followed to its new chunk.
	 */
	private async untilAttempted(scope: MemoryScopeState, placed: PlacedUsers): Promise<void> {
		for (;;) {
			const waits = new Set<Chunk>();
			const held = this.clock.now() < scope.holdUntil;
			for (let index = 0; index < placed.users.length; index++) {
				const chunk = carrierOf(placed, index);
				if (!chunk || waits.has(chunk) || chunk.isAttempted) continue;
				if (chunk.state === 'queued' && (held || this.waitsForRetryOfAnother(scope, chunk))) continue;
				waits.add(chunk);
			}
			if (waits.size === 0 || scope.disposed) return;
			await Promise.all([...waits].map((chunk) => chunk.whenSettled()));
		}
	}

	/** Counts users the node refused before the engine (when it does not pass them with a submit). */
	recordNotSynced(scopeName: string, reasons: ReadonlyArray<string>): void {
		this.scopeState(scopeName).counters.recordNotSynced(reasons);
	}

	/**
	 * Sends what is buffered now (ignoring the window) and runs retries that are due; `send`/`pacer` replace the
	 * stored ones (a reconnected credential: see useSender). Resolves when every chunk of the scope that existed at
	 * the call and is being sent, or becomes due meanwhile (e.g. released by a successful probe), has finished its
	 * attempt: synced, errored or rescheduled. Users submitted after the call are not waited for.
	 */
	async flush(scopeName: string, options: { send?: SendMapping; pacer?: RequestPacer } = {}): Promise<void> {
		const scope = this.scopes.get(scopeName);
		if (!scope) return;
		if (scope.send && scope.pacer) this.useSender(scope, options.send ?? scope.send, options.pacer ?? scope.pacer);
		scope.cutWindows();
		const existingBefore = Chunk.nextSerial();
		const now = this.clock.now();
		for (const chunk of [...scope.parked]) if (chunk.dueAt <= now) this.retryNow(scope, chunk);
		this.pump(scope);
		for (;;) {
			if (scope.disposed) return;
			// chunks held by a rate-limit pause count as rescheduled (see pump)
			const held = this.clock.now() < scope.holdUntil;
			const queued = held ? [] : scope.ready.filter((chunk) => !this.waitsForRetryOfAnother(scope, chunk));
			const inProgress = [...queued, ...scope.inFlight].filter((chunk) => chunk.serial < existingBefore);
			if (inProgress.length === 0) return;
			await Promise.all(inProgress.map((chunk) => chunk.whenSettled()));
		}
	}

	report(scopeName: string): Counters {
		return this.scopes.get(scopeName)?.counters.snapshot() ?? emptyCounters();
	}

	/** Counters plus every user not yet synced or errored, for workflow static data. */
	exportJournal(scopeName: string): Journal {
		const scope = this.scopes.get(scopeName);
		return encodeJournal({
			writer: this.instanceId,
			savedAt: this.clock.now(),
			counters: scope?.counters.snapshot() ?? emptyCounters(),
			chunks: scope?.unsettledChunks() ?? [],
		});
	}

	/**
	 * Takes back what an earlier process journaled: its users are queued for sending right away (those past their
	 * horizon are errored) and its counters are added. Acts once per scope per process, and ignores a journal this
	 * coordinator wrote itself, so calling it from every execution never duplicates users. Call it before the
	 * scope's first submit; `journal` may be undefined (nothing saved yet). Throws JournalFormatError for a journal
	 * it cannot read (once: the scope then counts as restored).
	 */
	restore(
		scopeName: string,
		journal: unknown,
		send: SendMapping,
		pacer: RequestPacer,
		settings?: Partial<SyncSettings>,
	): RestoreSummary {
		const scope = this.scopeState(scopeName);
		if (scope.restored) return { restoredUsers: 0 };
		scope.restored = true;
		if (settings) scope.settings = resolveSettings(settings, this.requestCapacity);
		this.useSender(scope, send, pacer);
		if (journal === undefined || journal === null) return { restoredUsers: 0 };
		const saved = parseJournal(journal);
		if (saved.writer === this.instanceId) return { restoredUsers: 0 };
		const { chunks, users } = decodeJournalChunks(saved, scope.settings.usersPerRequest);
		scope.counters.absorb(saved.counters, users);
		scope.enqueueRestored(chunks);
		this.pump(scope);
		return { restoredUsers: users };
	}

	/** Whether this process has any state for the scope. */
	knows(scopeName: string): boolean {
		return this.scopes.has(scopeName);
	}

	hasRestored(scopeName: string): boolean {
		return this.scopes.get(scopeName)?.restored ?? false;
	}

	/** Forgets everything (tests). Waiting submits resolve; in-flight sends finish unobserved. */
	reset(): void {
		for (const scope of this.scopes.values()) scope.dispose();
		this.scopes = new Map();
		this.instanceId = randomUUID();
	}

	// ---- internals ----

	private scopeState(name: string): MemoryScopeState {
		let scope = this.scopes.get(name);
		if (!scope) {
			const created = new MemoryScopeState(name, defaultSyncSettings(this.requestCapacity), this.clock, () => this.pump(created));
			this.scopes.set(name, created);
			scope = created;
		}
		return scope;
	}

	/**
	 * The newest send wins, so retries use a reconnected credential. A new send also probes one chunk that failed
	 * for want of authorization (if nothing is in flight); any success then releases all such chunks at once.
	 */
	private useSender(scope: MemoryScopeState, send: SendMapping, pacer: RequestPacer): void {
		const replaced = scope.send !== undefined && scope.send !== send;
		scope.send = send;
		scope.pacer = pacer;
		if (!replaced || scope.inFlight.size > 0) return;
		let probe: Chunk | undefined;
		for (const chunk of scope.parked) {
			if (chunk.lastErrorWasReauthorize && (!probe || chunk.dueAt < probe.dueAt)) probe = chunk;
		}
		if (probe) {
			this.retryNow(scope, probe);
			this.pump(scope);
		}
	}

	private canDrainSoon(scope: MemoryScopeState): boolean {
		return scope.inFlight.size > 0 || (scope.ready.length > 0 && this.clock.now() >= scope.holdUntil);
	}

	/**
	 * Starts sends while there is room in flight and nothing holds the scope. A chunk goes only when no earlier chunk
	 * of its audience with the other action is unsettled (an add then a remove of one user reach TikTok in that order).
	 */
	private pump(scope: MemoryScopeState): void {
		if (scope.disposed) return;
		const now = this.clock.now();
		while (scope.inFlight.size < this.maxInFlight && scope.ready.length > 0) {
			if (now < scope.holdUntil) {
				// Held by a rate-limit pause (60 s up to 15 min): these users are scheduled, they go when it ends.
				// Runs waiting for delivery return now with them pending rather than wait out the pause.
				for (const held of scope.ready) held.markSettled();
				this.armHold(scope, now);
				return;
			}
			const chunk = scope.takeReady((candidate) => scope.blockerOf(candidate) === undefined);
			if (!chunk) {
				// Every ready chunk waits for an earlier one; those behind a retry release their waiting runs now.
				for (const blocked of scope.ready) if (this.waitsForRetryOfAnother(scope, blocked)) blocked.markSettled();
				return;
			}
			if (this.gaveUpPastHorizon(scope, chunk, now)) continue;
			// sendChunk catches everything it awaits; this catch only guards against a bug becoming an
			// unhandled rejection, which would take the whole n8n process down.
			this.sendChunk(scope, chunk).catch(() => undefined);
		}
	}

	/** Whether `chunk` is held back by an earlier chunk of its audience that waits for a retry. */
	private waitsForRetryOfAnother(scope: MemoryScopeState, chunk: Chunk): boolean {
		return scope.blockerOf(chunk)?.state === 'waitingRetry';
	}

	private armHold(scope: MemoryScopeState, now: number): void {
		if (scope.holdTimer !== undefined) return;
		scope.holdTimer = this.clock.setTimeout(() => {
			scope.holdTimer = undefined;
			this.pump(scope);
		}, scope.holdUntil - now);
	}

	private async sendChunk(scope: MemoryScopeState, chunk: Chunk): Promise<void> {
		scope.startSending(chunk);
		let delivered = false;
		let failure: unknown;
		try {
			await (scope.pacer as RequestPacer).acquire();
			// Read after the wait: a credential reconnected meanwhile is used at once.
			const send = scope.send as SendMapping;
			await send(chunk.toBatch());
			delivered = true;
		} catch (error) {
			failure = error;
		}
		if (scope.disposed) return;
		scope.finishSending(chunk);
		if (delivered) this.onDelivered(scope, chunk);
		else this.onFailed(scope, chunk, failure);
		this.pump(scope);
	}

	private onDelivered(scope: MemoryScopeState, chunk: Chunk): void {
		chunk.delivered();
		scope.settled(chunk);
		scope.counters.delivered(chunk.users, chunk.destination.action);
		// The token works (again): chunks parked after an authorization failure need not wait out their backoff.
		for (const parked of [...scope.parked]) if (parked.lastErrorWasReauthorize) this.retryNow(scope, parked);
		scope.notifyChange();
	}

	private onFailed(scope: MemoryScopeState, chunk: Chunk, error: unknown): void {
		const failure = failureInfoOf(error);
		chunk.failed(failure);
		scope.lastError = failure.reason;
		const now = this.clock.now();
		const decision = decideAfterFailure({
			failure,
			failures: chunk.failures,
			lastEnteredAt: chunk.lastEnteredAt,
			retryHorizonMs: scope.settings.retryHorizonMs,
			now,
			random: this.random,
		});
		if (decision.kind === 'giveUp') {
			this.giveUp(scope, chunk, decision.reason);
			return;
		}
		if (decision.holdUntil !== undefined) scope.holdUntil = Math.max(scope.holdUntil, decision.holdUntil);
		chunk.waitForRetry(decision.dueAt);
		scope.park(chunk);
		chunk.retryTimer = this.clock.setTimeout(() => this.onRetryDue(scope, chunk), decision.dueAt - now);
		scope.notifyChange();
	}

	private onRetryDue(scope: MemoryScopeState, chunk: Chunk): void {
		chunk.retryTimer = undefined;
		if (scope.disposed || chunk.state !== 'waitingRetry') return;
		const now = this.clock.now();
		if (now < chunk.dueAt) {
			// The real clock caps very long timers; wait out the rest.
			chunk.retryTimer = this.clock.setTimeout(() => this.onRetryDue(scope, chunk), chunk.dueAt - now);
			return;
		}
		if (!this.gaveUpPastHorizon(scope, chunk, now)) this.retryNow(scope, chunk);
		this.pump(scope);
	}

	/** The one horizon check before an attempt: a chunk past it is errored with its last failure. */
	private gaveUpPastHorizon(scope: MemoryScopeState, chunk: Chunk, now: number): boolean {
		if (!isPastHorizon(chunk.lastEnteredAt, scope.settings.retryHorizonMs, now)) return false;
		this.giveUp(scope, chunk, horizonReason(scope.settings.retryHorizonMs, chunk.lastError));
		return true;
	}

	private retryNow(scope: MemoryScopeState, chunk: Chunk): void {
		this.cancelRetryTimer(chunk);
		scope.unpark(chunk);
		chunk.requeue();
		scope.enqueue(chunk, true);
	}

	private giveUp(scope: MemoryScopeState, chunk: Chunk, reason: string): void {
		this.cancelRetryTimer(chunk);
		scope.unpark(chunk);
		chunk.giveUp(reason);
		scope.settled(chunk);
		scope.counters.errorPending(chunk.users, reason);
		scope.notifyChange();
	}

	private cancelRetryTimer(chunk: Chunk): void {
		if (chunk.retryTimer !== undefined) this.clock.clearTimeout(chunk.retryTimer);
		chunk.retryTimer = undefined;
	}
}
