import type { Clock } from './clock';
import { SendFailure } from './errors';
import { decideAfterFailure, failureInfoOf, formatDuration } from './failurePolicy';
import { paceBudgetMs, renewEveryMs } from './limits';
import type { SyncSettings } from './settings';
import type { Claimed, LeaseTerms, ScopeStore, Settlement } from './store';
import type { RequestPacer, SendMapping } from './types';

/** What an attempt reads of its scope (the scheduler's runtime). */
export interface AttemptScope<C extends Claimed> {
	readonly store: ScopeStore<C, unknown>;
	send?: SendMapping;
	pacer?: RequestPacer;
	settings: SyncSettings;
	lastError?: string;
	disposed: boolean;
}

type AbortReason = 'lost' | 'shutdown' | 'timeout';

/**
 * One attempt to send a claimed request: wait for the pacer, send with an abort signal, settle as the failure policy
 * decides. With a leasing store it also keeps the lease: renewed every third of it; a renewal that fails or finds the
 * claim gone aborts the attempt (before the request leaves if it has not yet, and its settle is dropped); a request
 * that got no pacer slot within its budget goes back; one never leaves after the lease ran out by this process's
 * clock (a paused process wakes up past it); and TikTok must answer within the send budget.
 */
export class Attempt<C extends Claimed = Claimed> {
	readonly controller = new AbortController();
	/** Why it was aborted: its lease was lost, the process is shutting down, or TikTok did not answer in time. */
	aborted?: AbortReason;
	/** Its request was handed to the sender. */
	sent = false;
	/** By this process's clock, the lease is surely held until then. */
	private heldUntil: number;
	private renewTimer?: unknown;
	/** Settles when the attempt and its bookkeeping are over (set by the scheduler). */
	done: Promise<void> = Promise.resolve();

	constructor(
		private readonly clock: Clock,
		private readonly terms: LeaseTerms,
		private readonly random: () => number,
		private readonly scope: AttemptScope<C>,
		private readonly claim: C,
		claimedAt: number,
	) {
		this.heldUntil = claimedAt + terms.leaseMs;
	}

	abort(why: AbortReason): void {
		this.aborted ??= why;
		this.controller.abort();
	}

	stopRenewing(): void {
		if (this.renewTimer !== undefined) this.clock.clearTimeout(this.renewTimer);
		this.renewTimer = undefined;
	}

	/** Paces, sends and settles (or hands the claim back). Never rejects for the send's sake. */
	async run(): Promise<void> {
		const { store } = this.scope;
		if (store.leased) this.keepLease();
		let settlement: Settlement | undefined;
		let handBack = false;
		try {
			const paced = await this.paced(this.scope.pacer as RequestPacer, store.leased);
			if (!paced || (store.leased && this.clock.now() >= this.heldUntil)) handBack = this.aborted !== 'lost';
			else settlement = await this.send();
		} finally {
			this.stopRenewing();
		}
		if (this.scope.disposed) return;
		const now = this.clock.now();
		try {
			if (settlement && this.aborted !== 'lost') await store.settle(this.claim, settlement, now);
			else if (handBack) await store.handBack(this.claim, now);
		} catch (error) {
			// The store is away: the lease runs out and a process sends the request again (at least once; counted once).
			this.scope.lastError = (error as Error).message;
		}
	}

	private keepLease(): void {
		this.renewTimer = this.clock.setTimeout(async () => {
			this.renewTimer = undefined;
			const asked = this.clock.now();
			let held = false;
			let timer: NodeJS.Timeout | undefined;
			try {
				// A renewal that does not answer in time (Redis unreachable from here) counts as lost.
				const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), renewEveryMs(this.terms.leaseMs))));
				held = await Promise.race([this.scope.store.renew(this.claim, asked, this.terms), late]);
			} catch {
				held = false;
			} finally {
				clearTimeout(timer);
			}
			if (this.controller.signal.aborted || this.scope.disposed) return;
			if (!held) return this.abort('lost');
			this.heldUntil = asked + this.terms.leaseMs;
			this.keepLease();
		}, renewEveryMs(this.terms.leaseMs));
	}

	/** True once the pacer gives a slot; false when the attempt was aborted first, or (leased) the budget ran out. */
	private paced(pacer: RequestPacer, leased: boolean): Promise<boolean> {
		const { signal } = this.controller;
		return new Promise<boolean>((resolve) => {
			let timer: unknown;
			const finish = (value: boolean) => {
				if (timer !== undefined) this.clock.clearTimeout(timer);
				signal.removeEventListener('abort', onAbort);
				resolve(value);
			};
			const onAbort = () => finish(false);
			signal.addEventListener('abort', onAbort);
			if (leased) timer = this.clock.setTimeout(() => finish(false), paceBudgetMs(this.terms.leaseMs));
			pacer.acquire().then(
				() => finish(!signal.aborted),
				() => finish(false),
			);
		});
	}

	/** Sends the request (aborted, if leased, when TikTok does not answer within the send budget); decides what follows. */
	private async send(): Promise<Settlement> {
		const { scope, claim } = this;
		const budget = this.terms.sendBudgetMs;
		const deadline = scope.store.leased ? this.clock.setTimeout(() => this.abort('timeout'), budget) : undefined;
		let failure: unknown;
		try {
			this.sent = true;
			// Read after the pacer's wait: a credential reconnected meanwhile is used at once.
			await (scope.send as SendMapping)(claim.batch, { signal: this.controller.signal });
			if (this.aborted !== 'timeout') return { kind: 'synced' };
		} catch (error) {
			failure = error;
		} finally {
			if (deadline !== undefined) this.clock.clearTimeout(deadline);
		}
		if (this.aborted === 'timeout') {
			failure = new SendFailure({ errorClass: 'retryable', isRateLimit: false, reason: `TikTok did not answer within ${formatDuration(budget)}` });
		}
		const info = failureInfoOf(failure);
		scope.lastError = info.reason;
		const now = this.clock.now();
		const decision = decideAfterFailure({
			failure: info,
			failures: claim.failures + 1,
			lastEnteredAt: claim.lastEnteredAt,
			retryHorizonMs: scope.settings.retryHorizonMs,
			now,
			random: this.random,
		});
		if (decision.kind === 'giveUp') return { kind: 'errored', reason: decision.reason };
		return { kind: 'retry', dueAt: decision.dueAt, holdUntil: decision.holdUntil, reason: info.reason, reauthorize: info.errorClass === 'reauthorize' };
	}
}
