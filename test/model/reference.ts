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
	state: 'queued' | 'waiting' | 'done';
	readyAt: number;
	dueAt: number;
	reauthorize: boolean;
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

	constructor(
		start: number,
		private settings: ModelSettings,
		private readonly answer: (index: number) => Answer,
	) {
		this.now = start;
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

	private giveUp(part: Part, reason: string): void {
		if (process.env.MODEL_DEBUG) console.log(`model t=${this.now - 1_700_000_000_000} gives up ${part.audience} w${part.window} ${part.act} ${part.rows.map((k) => k.slice(-2))} (entered ${part.enteredAt - 1_700_000_000_000}): ${reason}`);
		part.state = 'done';
		this.counters.pending -= part.users;
		this.counters.errored += part.users;
		this.counters.erroredReasons[reason] = (this.counters.erroredReasons[reason] ?? 0) + part.users;
	}

	private send(part: Part): void {
		const answer = this.answer(this.seen.length);
		this.seen.push({ at: this.now, audience: part.audience, act: part.act, keys: part.rows });
		if (answer.ok) {
			const members = this.members.get(part.audience) ?? new Set<string>();
			this.members.set(part.audience, members);
			for (const key of part.rows) {
				if (part.act === 'add') members.add(key);
				else members.delete(key);
			}
			part.state = 'done';
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

	private nextEvent(): number | undefined {
		const times: number[] = [];
		for (const window of this.open.values()) times.push(window.endsAt);
		for (const part of this.parts) if (part.state === 'waiting') times.push(part.dueAt);
		if (this.hold > this.now && this.parts.some((p) => p.state === 'queued')) times.push(this.hold);
		const later = times.filter((time) => time > this.now);
		return later.length === 0 ? undefined : Math.min(...later);
	}
}
