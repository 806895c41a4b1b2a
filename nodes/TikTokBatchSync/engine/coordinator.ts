import { randomUUID } from 'node:crypto';

import { processWide, replaceProcessWide } from '../../shared/processWide';
import type { RequestPacer } from '../../shared/transport/rateLimit';
import { UserBuffer } from './buffer';
import { buildMappingRequest, Chunk, MAX_USERS_PER_REQUEST, PENDING, SYNCED } from './chunker';
import { realClock, type Clock } from './clock';
import { CounterBook, emptyCounters, type Counters } from './counters';
import { BacklogFullError } from './errors';
import {
	decodeGroupIds,
	encodeChunk,
	JOURNAL_FORMAT,
	JOURNAL_VERSION,
	parseJournal,
	type Journal,
	type JournalQueue,
} from './journal';
import { describeFailure, giveUpReason, retryDelayMs } from './retrySchedule';
import type {
	Destination,
	RunTallies,
	SendMapping,
	SubmitRequest,
	SubmitResult,
	SyncSettings,
	SyncUser,
	UserOutcome,
} from './types';

/*
 * Defaults. maxPendingUsers = 250,000 because: a healthy API drains that in 25 requests (~0.5 s at 50 requests/s),
 * so it only fills during an outage; it costs ~11 MB of journal JSON in workflow static data (n8n rewrites the
 * whole blob at every execution end) and ~10–25 MB of heap; beyond that the node should push back rather than
 * grow a database row without limit.
 */
export const DEFAULT_SYNC_SETTINGS: Readonly<SyncSettings> = Object.freeze({
	windowMs: 5_000,
	usersPerRequest: MAX_USERS_PER_REQUEST,
	retryHorizonMs: 13 * 3_600_000,
	maxPendingUsers: 250_000,
});

/** Requests of one scope in flight at once (pacing aside): 16 × 10,000 users at 100–300 ms each ≫ 50 requests/s. */
export const DEFAULT_MAX_REQUESTS_IN_FLIGHT = 16;

export interface CoordinatorOptions {
	clock?: Clock;
	/** [0, 1); drives retry jitter. */
	random?: () => number;
	maxRequestsInFlight?: number;
}

export interface RestoreSummary {
	/** Users put back in the queue (0 when there was nothing, or when this scope was restored already). */
	restoredUsers: number;
}

interface ScopeState {
	readonly name: string;
	readonly counters: CounterBook;
	settings: SyncSettings;
	send?: SendMapping;
	pacer?: RequestPacer;
	readonly buffers: Map<string, UserBuffer>;
	/** Cut chunks waiting for a send slot; retries go to the front. */
	readonly ready: Chunk[];
	readonly sending: Set<Chunk>;
	readonly waiting: Set<Chunk>;
	/** After a rate-limit error nothing new is sent before this time. */
	holdUntil: number;
	holdTimer?: unknown;
	restored: boolean;
	disposed: boolean;
	lastError?: string;
	changeWaiters: Array<() => void>;
}

/**
 * The one place every Batch Sync execution in this process hands its users to. It gathers them per scope and
 * destination, sends full requests at TikTok's pace, retries failures until the horizon, keeps the counters, and
 * exports/restores the journal the node keeps in workflow static data.
 */
export class SyncCoordinator {
	private readonly clock: Clock;
	private readonly random: () => number;
	private readonly maxInFlight: number;
	private scopes = new Map<string, ScopeState>();
	private instanceId = randomUUID();

	constructor(options: CoordinatorOptions = {}) {
		this.clock = options.clock ?? realClock;
		this.random = options.random ?? Math.random;
		this.maxInFlight = Math.max(1, Math.floor(options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT));
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
		scope.settings = resolveSettings(request.settings);
		this.useSender(scope, request.send, request.pacer);
		const notSyncedReasons = request.notSyncedReasons ?? [];
		if (notSyncedReasons.length > 0) scope.counters.recordNotSynced(notSyncedReasons);

		const buffer = this.bufferFor(scope, destination);
		// Per user only an index into this run's (few) chunks: outcomes are tracked per chunk.
		const chunkIndexOfUser = new Int32Array(users.length).fill(-1);
		const chunks: Chunk[] = [];
		let rejection: BacklogFullError | undefined;
		let next = 0;
		while (next < users.length && !scope.disposed) {
			const room = scope.settings.maxPendingUsers - scope.counters.pending;
			if (room <= 0) {
				this.cutBuffers(scope);
				if (!this.canDrainSoon(scope)) {
					rejection = new BacklogFullError({
						scope: scope.name,
						maxPendingUsers: scope.settings.maxPendingUsers,
						rejectedUsers: users.length - next,
						lastError: scope.lastError,
					});
					break;
				}
				await this.nextChange(scope);
				continue;
			}
			const end = Math.min(users.length, next + room);
			const { windowMs, usersPerRequest } = scope.settings;
			const now = this.clock.now();
			for (; next < end; next++) {
				const user = users[next];
				const chunk = buffer.add(user.key, user.ids, now, windowMs, usersPerRequest);
				scope.counters.admit(1);
				if (chunks[chunks.length - 1] !== chunk) chunks.push(chunk);
				chunkIndexOfUser[next] = chunks.length - 1;
			}
		}

		if (request.waitForDelivery) {
			// A chunk queued while a rate-limit pause holds the scope is scheduled already: its users are pending, and
			// the run must not wait out the pause (up to 15 min).
			const held = this.clock.now() < scope.holdUntil;
			await Promise.all(chunks.map((chunk) => (held && chunk.state === 'queued' ? undefined : chunk.whenSettled())));
		}

		const notAccepted: UserOutcome = Object.freeze({
			status: 'rejected',
			reason: rejection?.message ?? 'the sync engine was reset before these users were accepted',
		});
		const outcomes = new Array<UserOutcome>(users.length);
		const tallies: RunTallies = {
			entered: notSyncedReasons.length,
			notSynced: notSyncedReasons.length,
			synced: 0,
			pending: 0,
			errored: 0,
			rejected: 0,
		};
		for (let index = 0; index < users.length; index++) {
			const chunkIndex = chunkIndexOfUser[index];
			const outcome =
				chunkIndex < 0 ? notAccepted : request.waitForDelivery ? chunks[chunkIndex].outcome : PENDING;
			outcomes[index] = outcome;
			tallies[outcome.status]++;
			if (chunkIndex >= 0) tallies.entered++;
		}
		return { outcomes, tallies, ...(rejection ? { rejection } : {}) };
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
		this.cutBuffers(scope);
		const existingBefore = Chunk.nextSerial();
		const now = this.clock.now();
		for (const chunk of [...scope.waiting]) if (chunk.dueAt <= now) this.retryNow(scope, chunk);
		this.pump(scope);
		for (;;) {
			if (scope.disposed) return;
			// chunks held by a rate-limit pause count as rescheduled (see pump)
			const held = this.clock.now() < scope.holdUntil;
			const inProgress = [...(held ? [] : scope.ready), ...scope.sending].filter((chunk) => chunk.serial < existingBefore);
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
		const queues = new Map<string, JournalQueue>();
		const add = (chunk: Chunk) => {
			const key = destinationKey(chunk.destination);
			let queue = queues.get(key);
			if (!queue) {
				const { advertiserId, audienceId, action, idSchema } = chunk.destination;
				queue = { destination: { advertiserId, audienceId, action, idSchema: [...idSchema] }, groups: [] };
				queues.set(key, queue);
			}
			queue.groups.push(encodeChunk(chunk));
		};
		if (scope) {
			for (const buffer of scope.buffers.values()) if (buffer.forming) add(buffer.forming);
			for (const chunk of scope.ready) add(chunk);
			for (const chunk of scope.sending) add(chunk);
			for (const chunk of scope.waiting) add(chunk);
		}
		return {
			format: JOURNAL_FORMAT,
			version: JOURNAL_VERSION,
			writer: this.instanceId,
			savedAt: this.clock.now(),
			counters: scope?.counters.snapshot() ?? emptyCounters(),
			queues: [...queues.values()],
		};
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
		if (settings) scope.settings = resolveSettings(settings);
		this.useSender(scope, send, pacer);
		if (journal === undefined || journal === null) return { restoredUsers: 0 };
		const saved = parseJournal(journal);
		if (saved.writer === this.instanceId) return { restoredUsers: 0 };

		// Decode everything first so a damaged group throws before anything is counted.
		const restored: Chunk[] = [];
		for (const queue of saved.queues) {
			for (const group of queue.groups) {
				const columns = decodeGroupIds(group, queue.destination.idSchema.length);
				const groupChunks: Chunk[] = [];
				for (let start = 0; start < group.rows; start += scope.settings.usersPerRequest) {
					const chunk = new Chunk(queue.destination, group.enteredAt);
					const end = Math.min(group.rows, start + scope.settings.usersPerRequest);
					for (let row = start; row < end; row++) {
						chunk.append(
							columns.map((column) => column[row]),
							group.enteredAt,
						);
					}
					chunk.seal();
					chunk.state = 'queued';
					chunk.failures = group.failures;
					chunk.lastError = group.lastError;
					groupChunks.push(chunk);
				}
				// Merged duplicates stay with the group's first chunk so the counters stay whole.
				if (groupChunks.length > 0) groupChunks[0].users += group.users - group.rows;
				restored.push(...groupChunks);
			}
		}
		const restoredUsers = restored.reduce((sum, chunk) => sum + chunk.users, 0);
		scope.counters.absorb(saved.counters, restoredUsers);
		scope.ready.unshift(...restored);
		this.pump(scope);
		return { restoredUsers };
	}

	hasRestored(scopeName: string): boolean {
		return this.scopes.get(scopeName)?.restored ?? false;
	}

	/** Forgets everything (tests). Waiting submits resolve; in-flight sends finish unobserved. */
	reset(): void {
		for (const scope of this.scopes.values()) {
			scope.disposed = true;
			const chunks = [...scope.ready, ...scope.sending, ...scope.waiting];
			for (const buffer of scope.buffers.values()) {
				if (buffer.forming) chunks.push(buffer.forming);
				buffer.dispose();
			}
			if (scope.holdTimer !== undefined) this.clock.clearTimeout(scope.holdTimer);
			for (const chunk of chunks) {
				if (chunk.retryTimer !== undefined) this.clock.clearTimeout(chunk.retryTimer);
				chunk.markSettled();
			}
			this.notifyChange(scope);
		}
		this.scopes = new Map();
		this.instanceId = randomUUID();
	}

	// ---- internals ----

	private scopeState(name: string): ScopeState {
		let scope = this.scopes.get(name);
		if (!scope) {
			scope = {
				name,
				counters: new CounterBook(),
				settings: { ...DEFAULT_SYNC_SETTINGS },
				buffers: new Map(),
				ready: [],
				sending: new Set(),
				waiting: new Set(),
				holdUntil: 0,
				restored: false,
				disposed: false,
				changeWaiters: [],
			};
			this.scopes.set(name, scope);
		}
		return scope;
	}

	private bufferFor(scope: ScopeState, destination: Destination): UserBuffer {
		const key = destinationKey(destination);
		let buffer = scope.buffers.get(key);
		if (!buffer) {
			buffer = new UserBuffer({ ...destination, idSchema: [...destination.idSchema] }, this.clock, (chunk) => {
				scope.ready.push(chunk);
				this.pump(scope);
			});
			scope.buffers.set(key, buffer);
		}
		return buffer;
	}

	/**
	 * The newest send wins, so retries use a reconnected credential. A new send also probes one chunk that failed
	 * for want of authorization (if nothing is in flight); any success then releases all such chunks at once.
	 */
	private useSender(scope: ScopeState, send: SendMapping, pacer: RequestPacer): void {
		const replaced = scope.send !== undefined && scope.send !== send;
		scope.send = send;
		scope.pacer = pacer;
		if (!replaced || scope.sending.size > 0) return;
		let probe: Chunk | undefined;
		for (const chunk of scope.waiting) {
			if (chunk.lastErrorWasReauthorize && (!probe || chunk.dueAt < probe.dueAt)) probe = chunk;
		}
		if (probe) {
			this.retryNow(scope, probe);
			this.pump(scope);
		}
	}

	private cutBuffers(scope: ScopeState): Chunk[] {
		const cut: Chunk[] = [];
		for (const buffer of scope.buffers.values()) {
			const chunk = buffer.cut();
			if (chunk) cut.push(chunk);
		}
		return cut;
	}

	private canDrainSoon(scope: ScopeState): boolean {
		return scope.sending.size > 0 || (scope.ready.length > 0 && this.clock.now() >= scope.holdUntil);
	}

	private horizonOf(scope: ScopeState, chunk: Chunk): number {
		return chunk.lastEnteredAt + scope.settings.retryHorizonMs;
	}

	private pump(scope: ScopeState): void {
		if (scope.disposed) return;
		const now = this.clock.now();
		while (scope.sending.size < this.maxInFlight && scope.ready.length > 0) {
			if (now < scope.holdUntil) {
				// Held by a rate-limit pause (60 s up to 15 min): these users are scheduled, they go when it ends.
				// Runs waiting for delivery return now with them pending rather than wait out the pause.
				for (const held of scope.ready) held.markSettled();
				this.armHold(scope, now);
				return;
			}
			const chunk = scope.ready.shift() as Chunk;
			if (now >= this.horizonOf(scope, chunk)) {
				this.errorChunk(scope, chunk, giveUpReason(scope.settings.retryHorizonMs, chunk.lastError));
				continue;
			}
			// sendChunk catches everything it awaits; this catch only guards against a bug becoming an
			// unhandled rejection, which would take the whole n8n process down.
			this.sendChunk(scope, chunk).catch(() => undefined);
		}
	}

	private armHold(scope: ScopeState, now: number): void {
		if (scope.holdTimer !== undefined) return;
		scope.holdTimer = this.clock.setTimeout(() => {
			scope.holdTimer = undefined;
			this.pump(scope);
		}, scope.holdUntil - now);
	}

	private async sendChunk(scope: ScopeState, chunk: Chunk): Promise<void> {
		chunk.state = 'sending';
		scope.sending.add(chunk);
		let delivered = false;
		let failure: unknown;
		try {
			await (scope.pacer as RequestPacer).acquire();
			// Read after the wait: a credential reconnected meanwhile is used at once.
			const send = scope.send as SendMapping;
			await send(buildMappingRequest(chunk));
			delivered = true;
		} catch (error) {
			failure = error;
		}
		if (scope.disposed) return;
		scope.sending.delete(chunk);
		if (delivered) this.onDelivered(scope, chunk);
		else this.onFailed(scope, chunk, failure);
		this.pump(scope);
	}

	private onDelivered(scope: ScopeState, chunk: Chunk): void {
		chunk.state = 'synced';
		chunk.outcome = SYNCED;
		chunk.columns = [];
		scope.counters.delivered(chunk.users);
		chunk.markSettled();
		// The token works (again): chunks parked after an authorization failure need not wait out their backoff.
		for (const waiting of [...scope.waiting]) if (waiting.lastErrorWasReauthorize) this.retryNow(scope, waiting);
		this.notifyChange(scope);
	}

	private onFailed(scope: ScopeState, chunk: Chunk, error: unknown): void {
		const failure = describeFailure(error);
		chunk.failures++;
		chunk.lastError = failure.reason;
		chunk.lastErrorWasReauthorize = failure.errorClass === 'reauthorize';
		scope.lastError = failure.reason;
		const now = this.clock.now();
		const horizon = this.horizonOf(scope, chunk);
		if (failure.errorClass === 'permanent') {
			this.errorChunk(scope, chunk, failure.reason);
		} else if (now >= horizon) {
			this.errorChunk(scope, chunk, giveUpReason(scope.settings.retryHorizonMs, failure.reason));
		} else {
			const delay = retryDelayMs(chunk.failures, failure.isRateLimit, this.random);
			if (failure.isRateLimit) scope.holdUntil = Math.max(scope.holdUntil, now + delay);
			chunk.outcome = Object.freeze({ status: 'pending', reason: `will retry: ${failure.reason}` });
			this.scheduleRetry(scope, chunk, Math.min(now + delay, horizon));
			chunk.markSettled();
			this.notifyChange(scope);
		}
	}

	private scheduleRetry(scope: ScopeState, chunk: Chunk, dueAt: number): void {
		// It may wait for hours: keep its ids as bytes from now on.
		chunk.compact();
		chunk.state = 'waitingRetry';
		chunk.dueAt = dueAt;
		scope.waiting.add(chunk);
		chunk.retryTimer = this.clock.setTimeout(() => this.onRetryDue(scope, chunk), dueAt - this.clock.now());
	}

	private onRetryDue(scope: ScopeState, chunk: Chunk): void {
		chunk.retryTimer = undefined;
		if (scope.disposed || chunk.state !== 'waitingRetry') return;
		const now = this.clock.now();
		if (now < chunk.dueAt) {
			// The real clock caps very long timers; wait out the rest.
			chunk.retryTimer = this.clock.setTimeout(() => this.onRetryDue(scope, chunk), chunk.dueAt - now);
			return;
		}
		if (now >= this.horizonOf(scope, chunk)) {
			this.errorChunk(scope, chunk, giveUpReason(scope.settings.retryHorizonMs, chunk.lastError));
			return;
		}
		this.retryNow(scope, chunk);
		this.pump(scope);
	}

	private retryNow(scope: ScopeState, chunk: Chunk): void {
		if (chunk.retryTimer !== undefined) this.clock.clearTimeout(chunk.retryTimer);
		chunk.retryTimer = undefined;
		scope.waiting.delete(chunk);
		chunk.state = 'queued';
		scope.ready.unshift(chunk);
	}

	private errorChunk(scope: ScopeState, chunk: Chunk, reason: string): void {
		if (chunk.retryTimer !== undefined) this.clock.clearTimeout(chunk.retryTimer);
		chunk.retryTimer = undefined;
		scope.waiting.delete(chunk);
		chunk.state = 'errored';
		chunk.outcome = Object.freeze({ status: 'errored', reason });
		chunk.columns = [];
		scope.counters.errorPending(chunk.users, reason);
		chunk.markSettled();
		this.notifyChange(scope);
	}

	private nextChange(scope: ScopeState): Promise<void> {
		return new Promise((resolve) => scope.changeWaiters.push(resolve));
	}

	private notifyChange(scope: ScopeState): void {
		const waiters = scope.changeWaiters;
		scope.changeWaiters = [];
		for (const resolve of waiters) resolve();
	}
}

export function resolveSettings(settings: Partial<SyncSettings> = {}): SyncSettings {
	const pick = (value: number | undefined, fallback: number, min: number) =>
		value !== undefined && Number.isFinite(value) && value >= min ? value : fallback;
	const usersPerRequest = Math.min(
		MAX_USERS_PER_REQUEST,
		Math.floor(pick(settings.usersPerRequest, DEFAULT_SYNC_SETTINGS.usersPerRequest, 1)),
	);
	return {
		windowMs: pick(settings.windowMs, DEFAULT_SYNC_SETTINGS.windowMs, 0),
		usersPerRequest,
		retryHorizonMs: pick(settings.retryHorizonMs, DEFAULT_SYNC_SETTINGS.retryHorizonMs, 1),
		// At least one full request, or a large submit could never fill one.
		maxPendingUsers: Math.max(
			usersPerRequest,
			Math.floor(pick(settings.maxPendingUsers, DEFAULT_SYNC_SETTINGS.maxPendingUsers, 1)),
		),
	};
}

function destinationKey(destination: Destination): string {
	return JSON.stringify([destination.advertiserId, destination.audienceId, destination.action, destination.idSchema]);
}

function checkDestination(destination: Destination): void {
	if (
		!destination ||
		typeof destination.advertiserId !== 'string' ||
		destination.advertiserId === '' ||
		typeof destination.audienceId !== 'string' ||
		destination.audienceId === '' ||
		(destination.action !== 'add' && destination.action !== 'delete') ||
		!Array.isArray(destination.idSchema) ||
		destination.idSchema.length === 0
	) {
		throw new TypeError('Batch Sync destination needs an advertiserId, an audienceId, action add|delete and an idSchema');
	}
}

function checkUsers(users: ReadonlyArray<SyncUser>, slots: number): void {
	for (let index = 0; index < users.length; index++) {
		const { key, ids } = users[index];
		if (typeof key !== 'string' || !Array.isArray(ids) || ids.length !== slots) {
			throw new TypeError(`Batch Sync user ${index} needs a string key and exactly ${slots} id slot(s)`);
		}
		let hasId = false;
		for (const id of ids) {
			if (id === undefined || id === '') continue;
			if (typeof id !== 'string') throw new TypeError(`Batch Sync user ${index} has a non-string id`);
			hasId = true;
		}
		if (!hasId) throw new TypeError(`Batch Sync user ${index} has no id: count it as not synced instead`);
	}
}

const COORDINATOR = 'batch-sync-coordinator.v1';

/** The process-wide coordinator. */
export function getCoordinator(): SyncCoordinator {
	return processWide(COORDINATOR, () => new SyncCoordinator());
}

/**
 * Tests only: make `coordinator` the process-wide one (e.g. one built with a fake clock, so a node run can cover a
 * 13 h retry horizon in milliseconds). `undefined` clears it; the next getCoordinator() makes a fresh real one.
 * Returns the coordinator it replaced. Never called by the nodes.
 */
export function setCoordinatorForTests(coordinator: SyncCoordinator | undefined): SyncCoordinator | undefined {
	return replaceProcessWide(COORDINATOR, coordinator);
}
