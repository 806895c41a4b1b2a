import type { RequestPacer } from '../../nodes/shared/transport/rateLimit';
import type { MappingRequest } from '../../nodes/shared/transport/types';
import type { Clock } from '../../nodes/TikTokBatchSync/engine/clock';
import { SyncCoordinator } from '../../nodes/TikTokBatchSync/engine/coordinator';
import type { Destination, SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';

export const T0 = 1_700_000_000_000;
export const HOUR = 3_600_000;

/** A manual clock: timers run only inside advance(), in time order, with promise callbacks drained after each. */
export class FakeClock implements Clock {
	private time: number;
	private nextId = 1;
	private readonly timers = new Map<number, { at: number; callback: () => void }>();

	constructor(start = T0) {
		this.time = start;
	}

	now(): number {
		return this.time;
	}

	setTimeout(callback: () => void, delayMs: number): unknown {
		const id = this.nextId++;
		this.timers.set(id, { at: this.time + Math.max(0, delayMs), callback });
		return id;
	}

	clearTimeout(handle: unknown): void {
		this.timers.delete(handle as number);
	}

	get pendingTimers(): number {
		return this.timers.size;
	}

	async advance(ms: number): Promise<void> {
		await this.advanceTo(this.time + ms);
	}

	async advanceTo(target: number): Promise<void> {
		await settle();
		for (;;) {
			const next = this.nextTimerAt();
			if (next === undefined || next > target) break;
			this.setTime(next);
			this.fireOneDue();
			await settle();
		}
		this.setTime(target);
		await settle();
	}

	/** When the earliest timer is due, if any. */
	nextTimerAt(): number | undefined {
		let next: number | undefined;
		for (const timer of this.timers.values()) if (next === undefined || timer.at < next) next = timer.at;
		return next;
	}

	/** Moves time forward (never back) to `time`, firing nothing. */
	setTime(time: number): void {
		this.time = Math.max(this.time, time);
	}

	/** Fires the earliest timer due by now, if any; returns whether one fired. */
	fireOneDue(): boolean {
		let nextId = -1;
		let nextAt = Infinity;
		for (const [id, timer] of this.timers) {
			if (timer.at <= this.time && timer.at < nextAt) {
				nextAt = timer.at;
				nextId = id;
			}
		}
		if (nextId === -1) return false;
		const timer = this.timers.get(nextId) as { callback: () => void };
		this.timers.delete(nextId);
		timer.callback();
		return true;
	}
}

/** Lets every pending promise callback run. */
export async function settle(): Promise<void> {
	for (let round = 0; round < 3; round++) await new Promise((resolve) => setImmediate(resolve));
}

export const immediatePacer: RequestPacer = { acquire: async () => undefined };

export interface RecordedCall {
	at: number;
	request: MappingRequest;
}

/** A fake TikTok: records each request; `fail` decides per call whether (and how) it fails. */
export class FakeTikTok {
	readonly calls: RecordedCall[] = [];
	fail: ((request: MappingRequest, callIndex: number) => unknown) | undefined;

	constructor(private readonly clock: Clock) {}

	readonly send = async (request: MappingRequest): Promise<void> => {
		const index = this.calls.length;
		this.calls.push({ at: this.clock.now(), request });
		const failure = this.fail?.(request, index);
		if (failure !== undefined) throw failure;
	};

	get callTimes(): number[] {
		return this.calls.map((call) => call.at);
	}

	/** Every id sent in slot 0, in order. */
	sentIds(slot = 0): string[] {
		return this.calls.flatMap((call) =>
			call.request.batchData.map((row) => (row[slot] as { id?: string }).id).filter((id): id is string => !!id),
		);
	}
}

export const EMAIL_DESTINATION: Destination = {
	advertiserId: 'adv-1',
	audienceId: 'aud-1',
	action: 'add',
	idSchema: ['EMAIL_SHA256'],
};

/** A lowercase 64-hex id, distinct per (n, salt), like a SHA-256. */
export function hexId(n: number, salt = 'a'): string {
	return (salt + n.toString(16)).padStart(64, '0');
}

export function emailUsers(count: number, from = 0, salt = 'a'): SyncUser[] {
	const users: SyncUser[] = [];
	for (let n = from; n < from + count; n++) {
		const id = hexId(n, salt);
		users.push({ key: id, ids: [id] });
	}
	return users;
}

/** The counters' invariant, plus no negative bucket. Returns the counters for further checks. */
export function expectWhole(coordinator: SyncCoordinator, scope: string) {
	const counters = coordinator.report(scope);
	expect(counters.entered).toBe(counters.synced + counters.notSynced + counters.pending + counters.errored);
	for (const value of [counters.synced, counters.notSynced, counters.pending, counters.errored]) {
		expect(value).toBeGreaterThanOrEqual(0);
	}
	return counters;
}

/** A fresh fake clock, fake TikTok and coordinator (deterministic jitter), as each engine test starts with. */
export function freshEngine(): { clock: FakeClock; tiktok: FakeTikTok; coordinator: SyncCoordinator } {
	const clock = new FakeClock();
	return { clock, tiktok: new FakeTikTok(clock), coordinator: new SyncCoordinator({ clock, random: () => 0.5 }) };
}

/** Submit email users to `scope` through the fake TikTok, without waiting for delivery unless `extra` says so. */
export function submitEmails(
	engine: { tiktok: FakeTikTok; coordinator: SyncCoordinator },
	scope: string,
	users: SyncUser[],
	extra: Partial<SubmitRequest> = {},
) {
	return engine.coordinator.submit({
		scope,
		destination: EMAIL_DESTINATION,
		users,
		send: engine.tiktok.send,
		pacer: immediatePacer,
		waitForDelivery: false,
		...extra,
	});
}
