import { Activity } from './activity';
import { realClock, type Clock } from './clock';
import type { Counters } from './counters';
import type { BatchSyncEngine } from './engine';
import { Attempt } from './attempt';
import { BacklogFullError, StateUnavailableError } from './errors';
import { DEFAULT_LEASE_MS, DEFAULT_MAX_REQUESTS_IN_FLIGHT, FLUSH_WAIT_LIMIT_MS, MIN_LEASE_MS, sendBudgetMs, SHUTDOWN_WAIT_MS } from './limits';
import type { Rejection } from './runResult';
import { defaultSyncSettings, resolveSettings, type SyncSettings } from './settings';
import type { Claimed, LeaseTerms, ScopeStore } from './store';
import type { RequestPacer, SendMapping, SubmitRequest, SubmitResult, SyncUser } from './types';
import { checkDestination, checkUsers } from './validation';

export interface SchedulerOptions {
	/** Users the receiving API takes per request (TikTok: 10,000): the largest and default request size. */
	requestCapacity: number;
	clock?: Clock;
	/** [0, 1); drives retry jitter. */
	random?: () => number;
	/** Requests of one scope this process sends at once. */
	maxRequestsInFlight?: number;
	/** How long a claim from a leasing store is this process's before another may send it (renewed while sending). */
	leaseMs?: number;
}

/** What this process knows of a scope, whichever store keeps its state. */
export interface ScopeRuntime<S> {
	readonly name: string;
	readonly store: S;
	settings: SyncSettings;
	send?: SendMapping;
	pacer?: RequestPacer;
	/** This process's attempts under way. */
	readonly attempts: Set<Attempt>;
	pumping: boolean;
	again: boolean;
	/** The pump under way (shutdown waits for a claim on its way before handing back what the store holds). */
	pumped?: Promise<void>;
	timer?: unknown;
	timerAt?: number;
	/** TikTok's (or Redis's) last error here, for the backlog message. */
	lastError?: string;
	disposed: boolean;
	waiters: Array<() => void>;
}

/**
 * The Batch Sync scheduler, written once over a ScopeStore (store.ts): it admits users, pumps (claims while this
 * process has room in flight), paces, sends with an abort signal, keeps leases, settles as the failure policy decides,
 * and lets runs wait for delivery, for room, or for a flush. Subclasses say where the state lives: SyncCoordinator
 * (in memory) and RedisSyncCoordinator (Redis).
 */
export abstract class Scheduler<C extends Claimed, P, S extends ScopeStore<C, P>> implements BatchSyncEngine {
	abstract readonly kind: 'in-process' | 'redis';
	protected readonly clock: Clock;
	protected readonly random: () => number;
	protected readonly maxInFlight: number;
	protected readonly requestCapacity: number;
	protected readonly terms: LeaseTerms;
	protected readonly activity = new Activity();
	protected scopes = new Map<string, ScopeRuntime<S>>();
	/** Set at shutdown: nothing more is claimed by this process. */
	protected stopping = false;

	constructor(options: SchedulerOptions) {
		this.clock = options.clock ?? realClock;
		this.random = options.random ?? Math.random;
		this.maxInFlight = Math.max(1, Math.floor(options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT));
		this.requestCapacity = Math.max(1, Math.floor(options.requestCapacity));
		const leaseMs = Math.max(MIN_LEASE_MS, options.leaseMs ?? DEFAULT_LEASE_MS);
		this.terms = { leaseMs, sendBudgetMs: sendBudgetMs(leaseMs) };
	}

	/** A new store for a scope this process starts to use. */
	protected abstract newStore(name: string): S;

	/** How a failure of the store reads as a run's rejection (the in-memory store does not fail). */
	protected unavailable(error: unknown, rejectedUsers: number): Rejection {
		return new StateUnavailableError(`Batch Sync could not reach its state: ${(error as Error).message}`, rejectedUsers, error);
	}

	/** Store-specific checks of the users before anything is accepted (throws TypeError). */
	protected checkStorable(_users: ReadonlyArray<SyncUser>): void {}

	/** A run, flush or submit starts waiting on the scope (a shared store may arrange to hear of other processes). */
	protected onWaiting(_scope: ScopeRuntime<S>): void {}

	/** Real time after which a waiter looks again even if told nothing (0: only when told). */
	protected recheckMs = 0;

	/**
	 * Accepts the users (in order) while the scope has room, waiting for room while requests drain the backlog; users
	 * that still do not fit get 'rejected' and `rejection` explains it. Throws TypeError on malformed input before
	 * accepting anything.
	 */
	async submit(request: SubmitRequest): Promise<SubmitResult> {
		const { users, destination } = request;
		checkDestination(destination);
		checkUsers(users, destination.idSchema.length);
		this.checkStorable(users);
		const scope = this.scopeOf(request.scope);
		scope.settings = resolveSettings(request.settings, this.requestCapacity);
		const notSyncedReasons = request.notSyncedReasons ?? [];
		const placement = scope.store.placement(users, destination);
		let rejection: Rejection | undefined;
		let next = 0;
		try {
			await this.useSender(scope, request.send, request.pacer);
			if (notSyncedReasons.length > 0) await scope.store.recordNotSynced(notSyncedReasons, this.clock.now(), scope.settings);
			while (next < users.length && !scope.disposed) {
				const waiting = this.nextChange(scope);
				const reply = await scope.store.admit(placement, next, scope.settings, this.clock.now());
				next += reply.admitted;
				if (reply.wakeAt !== undefined) this.wakeAt(scope, reply.wakeAt);
				if (!reply.full) continue;
				this.pump(scope);
				if (!reply.drainable) {
					rejection = BacklogFullError.of({ name: scope.name, settings: scope.settings, lastError: scope.lastError }, users.length - next);
					break;
				}
				await waiting;
			}
		} catch (error) {
			rejection = this.unavailable(error, users.length - next);
		}
		this.pump(scope);
		if (request.waitForDelivery && !(rejection instanceof StateUnavailableError)) await this.untilAttempted(scope, placement);
		return scope.store.result(placement, notSyncedReasons.length, request.waitForDelivery, rejection);
	}

	/** Counts users the node refused before the engine (when it does not pass them with a submit). */
	async recordNotSynced(scopeName: string, reasons: ReadonlyArray<string>): Promise<void> {
		const scope = this.scopeOf(scopeName);
		await scope.store.recordNotSynced(reasons, this.clock.now(), scope.settings);
	}

	/**
	 * Sends what is buffered now (ignoring the window) and runs retries that are due; `send`/`pacer` replace the
	 * stored ones (a reconnected credential, or a process that has not sent for this scope yet). Resolves when nothing
	 * of the scope is being sent or may be sent now (the rest is scheduled), or after FLUSH_WAIT_LIMIT_MS.
	 */
	async flush(scopeName: string, options: { send?: SendMapping; pacer?: RequestPacer; settings?: Partial<SyncSettings> } = {}): Promise<void> {
		const known = this.scopes.get(scopeName);
		if (!known && !options.send) return;
		const scope = known ?? this.scopeOf(scopeName);
		if (options.settings) scope.settings = resolveSettings(options.settings, this.requestCapacity);
		const send = options.send ?? scope.send;
		const pacer = options.pacer ?? scope.pacer;
		if (send && pacer) await this.useSender(scope, send, pacer);
		await scope.store.cut(this.clock.now());
		this.pump(scope);
		const deadline = Date.now() + FLUSH_WAIT_LIMIT_MS;
		while (!scope.disposed && Date.now() < deadline) {
			const waiting = this.nextChange(scope);
			if (!(await scope.store.busy(this.clock.now()))) return;
			await waiting;
		}
	}

	abstract report(scopeName: string): Counters | Promise<Counters>;

	/** Whether this process has state or a dispatcher for the scope. */
	knows(scopeName: string): boolean {
		return this.scopes.has(scopeName);
	}

	/** Resolves when no store call, pump or send of this process is under way, with whether it was idle already. */
	whenIdle(): Promise<boolean> {
		return this.activity.whenIdle();
	}

	/** Forgets this process's part (tests). Waiting runs resolve; sends in flight finish unobserved. */
	reset(): void {
		for (const scope of this.scopes.values()) this.dispose(scope);
		this.scopes = new Map();
	}

	/**
	 * Graceful shutdown: claims nothing more, hands back at once what was claimed but not sent, and waits up to
	 * `waitMs` for the requests in flight to be answered and settled.
	 */
	async shutdown(waitMs = SHUTDOWN_WAIT_MS): Promise<void> {
		this.stopping = true;
		const inFlight: Array<Promise<unknown>> = [];
		for (const scope of this.scopes.values()) {
			this.clearTimer(scope);
			for (const attempt of scope.attempts) {
				if (!attempt.sent) attempt.abort('shutdown');
				inFlight.push(attempt.done);
			}
			// After the pump under way: a claim on its way hands its request back, and the store then what it took with it.
			const pumped = scope.pumped ?? Promise.resolve();
			inFlight.push(pumped.then(() => scope.store.handBackHeld(this.clock.now())).catch(() => undefined));
			this.notify(scope);
		}
		let timer: NodeJS.Timeout | undefined;
		await Promise.race([Promise.all(inFlight), new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
		clearTimeout(timer);
	}

	// ---- internals ----

	protected scopeOf(name: string): ScopeRuntime<S> {
		let scope = this.scopes.get(name);
		if (!scope) {
			scope = {
				name,
				store: this.newStore(name),
				settings: defaultSyncSettings(this.requestCapacity),
				attempts: new Set(),
				pumping: false,
				again: false,
				disposed: false,
				waiters: [],
			};
			this.scopes.set(name, scope);
		}
		return scope;
	}

	protected dispose(scope: ScopeRuntime<S>): void {
		scope.disposed = true;
		this.clearTimer(scope);
		for (const attempt of scope.attempts) attempt.stopRenewing();
		scope.store.dispose();
		this.notify(scope);
	}

	/**
	 * The newest send wins, so retries use a reconnected credential. A new send also probes one request that failed
	 * for want of authorization (if nothing is in flight here); its success releases all such requests at once.
	 */
	protected async useSender(scope: ScopeRuntime<S>, send: SendMapping, pacer: RequestPacer): Promise<void> {
		const replaced = scope.send !== undefined && scope.send !== send;
		scope.send = send;
		scope.pacer = pacer;
		if (!replaced || scope.attempts.size > 0) return;
		await scope.store.probe(this.clock.now());
		this.pump(scope);
	}

	/**
	 * Waits until the requests carrying these users were attempted: synced, errored or scheduled for later (a retry, a
	 * rate-limit pause, or behind an earlier request of the audience that waits for its retry: up to 15 min).
	 */
	private async untilAttempted(scope: ScopeRuntime<S>, placement: P): Promise<void> {
		while (!scope.disposed && !this.stopping) {
			const waiting = this.nextChange(scope);
			if (await scope.store.attempted(placement, this.clock.now())) return;
			await waiting;
		}
	}

	/** Resolves at the scope's next change (a settle, a cut, a pump that found nothing), here or, if told, elsewhere. */
	protected nextChange(scope: ScopeRuntime<S>): Promise<void> {
		return new Promise((resolve) => {
			if (scope.disposed) return resolve();
			let timer: NodeJS.Timeout | undefined;
			scope.waiters.push(() => {
				clearTimeout(timer);
				resolve();
			});
			if (this.recheckMs > 0) timer = setTimeout(() => this.notify(scope), this.recheckMs);
			this.onWaiting(scope);
		});
	}

	protected notify(scope: ScopeRuntime<S>): void {
		const waiters = scope.waiters;
		if (waiters.length === 0) return;
		scope.waiters = [];
		for (const resolve of waiters) resolve();
	}

	/** Claims and sends while this process has room in flight; then sleeps until the scope's next moment. */
	protected pump(scope: ScopeRuntime<S>): void {
		if (scope.disposed || this.stopping) return;
		if (scope.pumping) {
			scope.again = true;
			return;
		}
		scope.pumping = true;
		scope.pumped = this.activity
			.track(this.pumpLoop(scope))
			.catch(() => undefined)
			.finally(() => {
				scope.pumping = false;
				// Asked for again after the loop's last look (this runs a turn later): look once more.
				if (scope.again) this.pump(scope);
			});
	}

	private async pumpLoop(scope: ScopeRuntime<S>): Promise<void> {
		do {
			scope.again = false;
			while (!scope.disposed && !this.stopping && scope.send && scope.attempts.size < this.maxInFlight) {
				let reply;
				const now = this.clock.now();
				try {
					reply = await scope.store.claim(now, scope.settings, this.terms, this.maxInFlight - scope.attempts.size);
				} catch (error) {
					// The store is away: look again later; nothing was taken.
					scope.lastError = (error as Error).message;
					this.wakeAt(scope, this.clock.now() + 1_000);
					return;
				}
				if (reply.changed) this.notify(scope);
				if (reply.claim === undefined) {
					this.wakeAt(scope, reply.nextAt);
					break;
				}
				if (this.stopping) {
					// Shutdown began while the claim was on its way: nothing more is sent from here.
					await this.handBackSafely(scope, reply.claim);
					return;
				}
				this.startAttempt(scope, reply.claim, now);
			}
		} while (scope.again && !scope.disposed);
	}

	protected wakeAt(scope: ScopeRuntime<S>, at: number): void {
		if (at < 0 || !Number.isFinite(at) || scope.disposed || this.stopping) return;
		if (scope.timer !== undefined && scope.timerAt !== undefined && scope.timerAt <= at) return;
		this.clearTimer(scope);
		scope.timerAt = at;
		scope.timer = this.clock.setTimeout(() => {
			scope.timer = undefined;
			scope.timerAt = undefined;
			this.pump(scope);
		}, Math.max(0, at - this.clock.now()));
	}

	private clearTimer(scope: ScopeRuntime<S>): void {
		if (scope.timer !== undefined) this.clock.clearTimeout(scope.timer);
		scope.timer = undefined;
		scope.timerAt = undefined;
	}

	private async handBackSafely(scope: ScopeRuntime<S>, claim: C): Promise<void> {
		try {
			await scope.store.handBack(claim, this.clock.now());
		} catch (error) {
			// The store is away: the lease runs out and another process sends the request.
			scope.lastError = (error as Error).message;
		}
	}

	private startAttempt(scope: ScopeRuntime<S>, claim: C, claimedAt: number): void {
		const attempt = new Attempt(this.clock, this.terms, this.random, scope, claim, claimedAt);
		scope.attempts.add(attempt);
		const run = async () => {
			await attempt.run();
			if (scope.disposed) return;
			scope.attempts.delete(attempt);
			this.notify(scope);
			this.pump(scope);
		};
		attempt.done = this.activity.track(run()).catch(() => undefined);
	}

}
