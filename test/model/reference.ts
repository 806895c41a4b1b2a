/*
 * A small reference model of Batch Sync's scheduling, written from its rules and nothing else (no engine code but
 * the failure policy's formula): windows per audience, the merge of a window's submissions, one request per action,
 * the send order, the audience's add/remove order, retries, rate-limit holds, authorization failures, the horizon,
 * counters. One request at a time, answered at once. The model test runs the same steps against both stores and
 * compares what TikTok saw and the counters with this.
 */
import { decideAfterFailure, horizonReason } from '../../nodes/TikTokBatchSync/engine/failurePolicy';
import type { FailureInfo } from '../../nodes/TikTokBatchSync/engine/types';

export type Act = 'add' | 'delete';

export interface ModelSettings {
	windowMs: number;
	usersPerRequest: number;
	retryHorizonMs: number;
}

interface Entry {
	key: string;
	act: Act;
	time: number;
}

interface Window {
	audience: string;
	number: number;
	endsAt: number;
	entries: Entry[];
}

interface Part {
	audience: string;
	window: number;
	act: Act;
	rows: string[];
	users: number;
	enteredAt: number;
	failures: number;
	lastError?: string;
	state: 'queued' | 'waiting' | 'sending' | 'fenced' | 'done';
	readyAt: number;
	dueAt: number;
	reauthorize: boolean;
	/** Shared state: a stalled holder's lease ends then (taken over by another process). */
	leaseEnd?: number;
	/** After a takeover: the old holder's copy may arrive until then; the audience's other action waits. */
	staleUntil?: number;
}

/** How a crash of the process sending a request plays out: regular n8n (journal) or queue mode (leases). */
export interface CrashRules {
	kind: 'journal' | 'lease';
	leaseMs: number;
	sendBudgetMs: number;
	fenceMarginMs: number;
	/** After the lease's end plus the send budget, plus this (less than the margin), the stalled copy arrives. */
	lateArrivalMs: number;
}

/** A request as TikTok saw it: when, which audience, which action, which users (in row order). */
export interface SeenRequest {
	at: number;
	audience: string;
	act: Act;
	keys: string[];
}

/** What TikTok answers to the n-th request: ok, or a failure as the nodes classify it. */
export type Answer = { ok: true } | { ok: false; info: FailureInfo };

export interface ModelCounters {
	entered: number;
	synced: number;
	pending: number;
	errored: number;
	added: number;
	removed: number;
	erroredReasons: Record<string, number>;
}

export class ReferenceModel {
	now: number;
	readonly seen: SeenRequest[] = [];
	readonly members = new Map<string, Set<string>>();
	readonly counters: ModelCounters = { entered: 0, synced: 0, pending: 0, errored: 0, added: 0, removed: 0, erroredReasons: {} };
	private readonly open = new Map<string, Window>();
	private readonly parts: Part[] = [];
	private windows = 0;
	private hold = 0;
	private stallNext = false;
	/** Stalled copies still to arrive: when, and what. */
	private readonly late: Array<{ at: number; part: Part; rows: string[] }> = [];

	constructor(
		start: number,
		private settings: ModelSettings,
		private readonly answer: (index: number) => Answer,
		private readonly crashes?: CrashRules,
	) {
		this.now = start;
	}

	/** Whether a crashed holder's lease is still live (a flush would wait for it to lapse). */
	get leaseOutstanding(): boolean {
		return this.parts.some((part) => part.state === 'sending');
	}

	/** The next request's sender stalls and its process crashes right there (it is re-sent as the rules say). */
	stallAndCrash(): void {
		this.stallNext = true;
	}

	/** Submissions of one run (in order), at the current time, with the run's settings. */
	submit(audience: string, users: Array<{ key: string; act: Act }>, settings: ModelSettings): void {
		this.settings = settings;
		// A window that ended is cut before the run's users come in (the engine cuts at its next look).
		const ended = this.open.get(audience);
		if (ended && ended.endsAt <= this.now) this.cut(ended, ended.endsAt);
		for (const user of users) {
			let window = this.open.get(audience);
			if (!window) {
				window = { audience, number: this.windows++, endsAt: this.now + settings.windowMs, entries: [] };
				this.open.set(audience, window);
			}
			window.entries.push({ key: user.key, act: user.act, time: this.now });
			this.counters.entered++;
			this.counters.pending++;
			if (window.entries.length >= settings.usersPerRequest) this.cut(window, this.now);
		}
		this.pump();
	}

	/** Moves time to `target`, doing everything due on the way. */
	advanceTo(target: number): void {
		this.pump();
		for (;;) {
			const next = this.nextEvent();
			if (next === undefined || next > target) break;
			this.now = Math.max(this.now, next);
			this.pump();
		}
		this.now = target;
		this.pump();
	}

	/** Ends every open window now (a flush). */
	flush(): void {
		for (const window of [...this.open.values()].sort((a, b) => a.number - b.number)) this.cut(window, this.now);
		this.pump();
	}

	private cut(window: Window, at: number): void {
		this.open.delete(window.audience);
		// Merge: duplicates share a row, the last action wins; a user keeps its row while its action stays and moves
		// to the end of the other request when it changes.
		const state = new Map<string, { act: Act; position: number; submissions: number }>();
		let order = 0;
		const entered: Record<Act, number> = { add: 0, delete: 0 };
		for (const entry of window.entries) {
			entered[entry.act] = Math.max(entered[entry.act], entry.time);
			const known = state.get(entry.key);
			if (!known) state.set(entry.key, { act: entry.act, position: order++, submissions: 1 });
			else {
				known.submissions++;
				if (known.act !== entry.act) {
					known.act = entry.act;
					known.position = order++;
				}
			}
		}
		for (const act of ['add', 'delete'] as const) {
			const users = [...state.entries()].filter(([, s]) => s.act === act).sort((a, b) => a[1].position - b[1].position);
			if (users.length === 0) continue;
			this.parts.push({
				audience: window.audience,
				window: window.number,
				act,
				rows: users.map(([key]) => key),
				users: users.reduce((sum, [, s]) => sum + s.submissions, 0),
				enteredAt: entered[act],
				failures: 0,
				state: 'queued',
				readyAt: at,
				dueAt: at,
				reauthorize: false,
			});
		}
	}

	private blocked(part: Part): boolean {
		const other = part.act === 'add' ? 'delete' : 'add';
		return this.parts.some((p) => p.state !== 'done' && p.audience === part.audience && p.act === other && p.window < part.window);
	}

	private pump(): void {
		for (;;) {
			for (const late of this.late.filter((entry) => entry.at <= this.now)) {
				this.late.splice(this.late.indexOf(late), 1);
				this.apply(late.part.audience, late.part.act, late.rows);
			}
			for (const part of this.parts) {
				if (part.state === 'sending' && part.leaseEnd !== undefined && part.leaseEnd <= this.now) {
					// Taken over when the lease lapsed: due again, fencing the other action until the copy cannot arrive.
					const rules = this.crashes as CrashRules;
					part.state = 'queued';
					part.readyAt = part.leaseEnd;
					part.staleUntil = part.leaseEnd + rules.sendBudgetMs + rules.fenceMarginMs;
					part.leaseEnd = undefined;
				}
				if (part.state === 'fenced' && (part.staleUntil ?? 0) <= this.now) part.state = 'done';
			}
			for (const window of [...this.open.values()].sort((a, b) => a.number - b.number)) {
				if (window.endsAt <= this.now) this.cut(window, window.endsAt);
			}
			for (const part of this.parts) {
				if (part.state !== 'waiting' || part.dueAt > this.now) continue;
				if (this.pastHorizon(part)) continue;
				part.state = 'queued';
				part.readyAt = part.dueAt;
			}
			if (this.now < this.hold) return;
			const ready = this.parts
				.filter((p) => p.state === 'queued' && !this.blocked(p))
				.sort((a, b) => a.readyAt - b.readyAt || a.window - b.window || (a.act === b.act ? 0 : a.act === 'add' ? -1 : 1));
			const part = ready[0];
			if (!part) return;
			if (this.pastHorizon(part)) continue;
			this.send(part);
		}
	}

	private pastHorizon(part: Part): boolean {
		if (this.now < part.enteredAt + this.settings.retryHorizonMs) return false;
		this.giveUp(part, horizonReason(this.settings.retryHorizonMs, part.lastError));
		return true;
	}

	/** Synced or errored: done, or fenced a while after a takeover. */
	private finish(part: Part): void {
		part.state = part.staleUntil !== undefined && part.staleUntil > this.now ? 'fenced' : 'done';
	}

	private apply(audience: string, act: Act, rows: string[]): void {
		const members = this.members.get(audience) ?? new Set<string>();
		this.members.set(audience, members);
		for (const key of rows) {
			if (act === 'add') members.add(key);
			else members.delete(key);
		}
	}

	private giveUp(part: Part, reason: string): void {
		this.finish(part);
		this.counters.pending -= part.users;
		this.counters.errored += part.users;
		this.counters.erroredReasons[reason] = (this.counters.erroredReasons[reason] ?? 0) + part.users;
	}

	private send(part: Part): void {
		const answer = this.answer(this.seen.length);
		this.seen.push({ at: this.now, audience: part.audience, act: part.act, keys: part.rows });
		if (this.stallNext) {
			this.stallNext = false;
			this.crash(part);
			return;
		}
		if (answer.ok) {
			this.apply(part.audience, part.act, part.rows);
			this.finish(part);
			this.counters.pending -= part.users;
			this.counters.synced += part.users;
			this.counters[part.act === 'add' ? 'added' : 'removed'] += part.users;
			for (const other of this.parts) {
				if (other.state !== 'waiting' || !other.reauthorize) continue;
				other.state = 'queued';
				other.readyAt = this.now;
				other.reauthorize = false;
			}
			return;
		}
		part.failures++;
		part.lastError = answer.info.reason;
		const decision = decideAfterFailure({
			failure: answer.info,
			failures: part.failures,
			lastEnteredAt: part.enteredAt,
			retryHorizonMs: this.settings.retryHorizonMs,
			now: this.now,
			random: () => 0.5,
		});
		if (decision.kind === 'giveUp') {
			this.giveUp(part, decision.reason);
			return;
		}
		if (decision.holdUntil !== undefined) this.hold = Math.max(this.hold, decision.holdUntil);
		part.state = 'waiting';
		part.dueAt = decision.dueAt;
		part.reauthorize = answer.info.errorClass === 'reauthorize';
	}

	/** The process sending `part` crashed mid-send. */
	private crash(part: Part): void {
		const rules = this.crashes as CrashRules;
		if (rules.kind === 'lease') {
			// Its lease lapses; another process takes the request over; the stalled copy arrives late.
			part.state = 'sending';
			part.leaseEnd = this.now + rules.leaseMs;
			this.late.push({ at: part.leaseEnd + rules.sendBudgetMs + rules.lateArrivalMs, part, rows: part.rows });
			return;
		}
		// Regular n8n: the request arrived before the process died; its journal comes back in the next process,
		// where everything not settled is queued at once (open windows too), and the rate-limit pause is gone.
		this.apply(part.audience, part.act, part.rows);
		for (const window of [...this.open.values()].sort((a, b) => a.number - b.number)) this.cut(window, this.now);
		part.state = 'queued';
		for (const other of this.parts) {
			if (other.state === 'done') continue;
			other.state = 'queued';
			other.readyAt = this.now;
			other.reauthorize = false;
		}
		this.hold = 0;
	}

	private nextEvent(): number | undefined {
		const times: number[] = [];
		for (const late of this.late) times.push(late.at);
		for (const part of this.parts) {
			if (part.state === 'sending' && part.leaseEnd !== undefined) times.push(part.leaseEnd);
			if (part.state === 'fenced' && part.staleUntil !== undefined) times.push(part.staleUntil);
		}
		for (const window of this.open.values()) times.push(window.endsAt);
		for (const part of this.parts) if (part.state === 'waiting') times.push(part.dueAt);
		if (this.hold > this.now && this.parts.some((p) => p.state === 'queued')) times.push(this.hold);
		const later = times.filter((time) => time > this.now);
		return later.length === 0 ? undefined : Math.min(...later);
	}
}
