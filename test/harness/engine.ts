import { buildMappingRequest, type MappingBatch } from '../../nodes/shared/transport/mapping';
import type { MappingRequest } from '../../nodes/shared/transport/types';
import {
	SendFailure,
	type Clock,
	type Destination,
	type SubmitRequest,
	type SyncCoordinator,
	type SyncUser,
} from '../../nodes/TikTokBatchSync/engine';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { ALREADY_PACED, classifyForEngine } from '../../nodes/TikTokBatchSync/sender';
import { FakeClock } from './clock';

export interface RecordedCall {
	at: number;
	request: MappingRequest;
}

/** A fake TikTok: records each request; `fail` decides per call whether (and how) it fails. */
export class FakeTikTok {
	readonly calls: RecordedCall[] = [];
	fail: ((request: MappingRequest, callIndex: number) => unknown) | undefined;

	constructor(private readonly clock: Clock) {}

	/** The engine's sender: the request the nodes would build, failures classified as the nodes classify them. */
	readonly send = async (batch: MappingBatch): Promise<void> => {
		const request = buildMappingRequest(batch);
		const index = this.calls.length;
		this.calls.push({ at: this.clock.now(), request });
		const failure = this.fail?.(request, index);
		if (failure !== undefined) throw new SendFailure(classifyForEngine(failure));
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
	return { clock, tiktok: new FakeTikTok(clock), coordinator: newTikTokCoordinator({ clock, random: () => 0.5 }) };
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
		pacer: ALREADY_PACED,
		waitForDelivery: false,
		...extra,
	});
}
