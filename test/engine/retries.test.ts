import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { BatchSyncEngine } from '../../nodes/TikTokBatchSync/engine';
import { retryDelayMs } from '../../nodes/TikTokBatchSync/engine/failurePolicy';
import type { SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers, expectWhole, ENGINE_KINDS, freshEngine, type EngineUnderTest, submitEmails } from '../harness/engine';
import { FakeClock, HOUR, T0 } from '../harness/clock';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';

const SCOPE = 'wf-2:Batch Sync';
const SECOND = 1_000;
const MINUTE = 60_000;

const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });
const rateLimited = () =>
	new TikTokApiError({ message: 'Too many requests', tiktokMessage: 'Too many requests', code: 40100, httpStatus: 200 });
const tokenExpired = () =>
	new TikTokApiError({ message: 'Access token expired', tiktokMessage: 'Access token expired', code: 40105 });
const audienceGone = () =>
	new TikTokApiError({ message: 'Audience does not exist', tiktokMessage: 'Audience does not exist', code: 40002 });

/** Gaps between consecutive calls, in ms. */
const gaps = (times: number[]) => times.slice(1).map((time, index) => time - times[index]);

describe.each(ENGINE_KINDS)('Batch Sync engine (%s): retries', (kind) => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: BatchSyncEngine;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) => submitEmails({ tiktok, coordinator }, SCOPE, users, extra);

	let engine: EngineUnderTest;
	beforeEach(() => ({ clock, tiktok, coordinator } = engine = freshEngine(kind)));

	afterEach(() => engine.dispose());

	it('backs off 5 s, 10 s, 20 s … capped at 15 min after retryable errors, then delivers', async () => {
		tiktok.fail = (_request, index) => (index < 11 ? serverError() : undefined);
		await submit(emailUsers(3));
		for (let step = 0; step < 80; step++) {
			await clock.advance(MINUTE);
			await expectWhole(coordinator, SCOPE);
		}
		expect(gaps(tiktok.callTimes)).toEqual([
			5 * SECOND,
			10 * SECOND,
			20 * SECOND,
			40 * SECOND,
			80 * SECOND,
			160 * SECOND,
			320 * SECOND,
			640 * SECOND,
			15 * MINUTE,
			15 * MINUTE,
			15 * MINUTE,
		]);
		expect(tiktok.calls[0].at).toBe(T0 + 5 * SECOND);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 3, pending: 0, errored: 0 });
	});

	it('waits longer after a rate-limit error (60 s, 120 s, 240 s …) and holds other requests meanwhile', async () => {
		const firstUserId = emailUsers(1)[0].key;
		let firstBatchFailures = 0;
		tiktok.fail = (request) =>
			JSON.stringify(request).includes(firstUserId) && firstBatchFailures++ < 3 ? rateLimited() : undefined;
		const result = submit(emailUsers(2), { waitForDelivery: true });
		await clock.advance(5 * SECOND);
		expect((await result).outcomes[0]).toEqual({
			status: 'pending',
			reason: 'will retry: TikTok error 40100: Too many requests',
		});
		// A batch whose window ends at 10 s must not go out while the scope is held after the 40100.
		await submit(emailUsers(1, 10));
		await clock.advance(59 * SECOND);
		expect(tiktok.calls).toHaveLength(1);
		await clock.advance(10 * MINUTE);
		await expectWhole(coordinator, SCOPE);

		const firstBatchTimes = tiktok.calls
			.filter((call) => JSON.stringify(call.request).includes(firstUserId))
			.map((call) => call.at);
		expect(gaps(firstBatchTimes)).toEqual([60 * SECOND, 120 * SECOND, 240 * SECOND]);
		const secondBatch = tiktok.calls.filter((call) => !JSON.stringify(call.request).includes(firstUserId));
		expect(secondBatch.map((call) => call.at)).toEqual([T0 + 65 * SECOND]);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 3, synced: 3, pending: 0 });
	});

	it('a run waiting for delivery returns at once, pending, when its full request is queued during a rate-limit pause', async () => {
		tiktok.fail = (_request, index) => (index === 0 ? rateLimited() : undefined);
		await submit(emailUsers(1), { waitForDelivery: true, settings: { usersPerRequest: 1, windowMs: 0 } });
		// The scope is now held for 60 s. A full request (cut inside submit) must not make this run wait that out.
		let settled = false;
		const run = submit(emailUsers(3, 10), { waitForDelivery: true, settings: { usersPerRequest: 3, windowMs: 0 } }).then((result) => {
			settled = true;
			return result;
		});
		await clock.advance(SECOND);
		expect(settled).toBe(true);
		expect((await run).tallies).toMatchObject({ entered: 3, pending: 3 });
		await clock.advance(10 * MINUTE);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 4, synced: 4, pending: 0 });
	});

	it('spreads delays by ±20 % jitter around the nominal schedule', () => {
		expect(retryDelayMs(1, false, () => 0)).toBe(4_000);
		expect(retryDelayMs(1, false, () => 0.999999)).toBe(6_000);
		expect(retryDelayMs(3, true, () => 0.5)).toBe(240_000);
		expect(retryDelayMs(50, false, () => 0.5)).toBe(15 * MINUTE);
	});

	it('errors users exactly at enteredAt + 13 h, not a millisecond before, with the last error as reason', async () => {
		tiktok.fail = () => serverError();
		await submit(emailUsers(4));
		await clock.advanceTo(T0 + 13 * HOUR - 1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 4, errored: 0 });
		const callsBeforeHorizon = tiktok.calls.length;
		expect(callsBeforeHorizon).toBeGreaterThan(50);

		await clock.advance(1);
		const counters = await expectWhole(coordinator, SCOPE);
		expect(counters).toMatchObject({ pending: 0, errored: 4 });
		expect(counters.erroredReasons).toEqual({
			'gave up after 13 h of retries: TikTok error 50000: System error': 4,
		});
		await clock.advance(HOUR);
		expect(tiktok.calls).toHaveLength(callsBeforeHorizon);
	});

	it('honours a configured horizon and counts it from the last user of a batch', async () => {
		tiktok.fail = () => serverError();
		const settings = { retryHorizonMs: 30 * MINUTE };
		await submit(emailUsers(1), { settings });
		await clock.advance(2 * SECOND);
		await submit(emailUsers(1, 5), { settings });
		await clock.advanceTo(T0 + 2 * SECOND + 30 * MINUTE - 1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 2, errored: 0 });
		await clock.advance(1);
		expect(await (await expectWhole(coordinator, SCOPE)).erroredReasons).toEqual({
			'gave up after 30 min of retries: TikTok error 50000: System error': 2,
		});
	});

	it('errors users at once on a permanent error, with TikTok code and message', async () => {
		tiktok.fail = () => audienceGone();
		const result = submit(emailUsers(3), { waitForDelivery: true });
		await clock.advance(5 * SECOND);
		const { outcomes, tallies } = await result;
		expect(outcomes).toEqual(
			new Array(3).fill({ status: 'errored', reason: 'TikTok error 40002: Audience does not exist' }),
		);
		expect(tallies).toMatchObject({ entered: 3, errored: 3 });
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({
			errored: 3,
			pending: 0,
			erroredReasons: { 'TikTok error 40002: Audience does not exist': 3 },
		});
		await clock.advance(HOUR);
		expect(tiktok.calls).toHaveLength(1);
	});

	it('keeps users pending after a reauthorize error; a reconnected credential syncs them all', async () => {
		const expired = new FakeTikTok(clock);
		expired.fail = () => tokenExpired();
		const result = coordinator.submit({
			scope: SCOPE,
			destination: EMAIL_DESTINATION,
			users: emailUsers(3_000),
			send: expired.send,
			pacer: ALREADY_PACED,
			settings: { usersPerRequest: 1_000 },
			waitForDelivery: true,
		});
		await clock.advance(0);
		const { outcomes } = await result;
		expect(new Set(outcomes.map((outcome) => outcome.status))).toEqual(new Set(['pending']));
		expect(outcomes[0].reason).toBe('will retry: TikTok error 40105: Access token expired');
		await clock.advance(5 * HOUR);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 3_000, errored: 0 });
		expect(expired.calls.length).toBeGreaterThan(3 * 20);
		const expiredCalls = expired.calls.length;

		// The user reconnects; the next execution brings a send with the new token and one more user.
		await submit(emailUsers(1, 99_999), { settings: { usersPerRequest: 1_000 } });
		await clock.advance(0);
		expect(expired.calls).toHaveLength(expiredCalls);
		// One chunk probes the new token at once; its success releases the other two without waiting out the backoff.
		expect(tiktok.calls).toHaveLength(3);
		expect(new Set(tiktok.sentIds())).toEqual(new Set(emailUsers(3_000).map((user) => user.key)));
		await clock.advance(5 * SECOND);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 3_001, synced: 3_001, pending: 0 });
	});

	it('flush with a reconnected send delivers users parked after a reauthorize error before it resolves', async () => {
		const revoked = new FakeTikTok(clock);
		revoked.fail = () => tokenExpired();
		await submit(emailUsers(2_500), { send: revoked.send, settings: { usersPerRequest: 1_000 } });
		await clock.advance(5 * SECOND);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 2_500 });

		await coordinator.flush(SCOPE, { send: tiktok.send });
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 2_500, pending: 0 });
		expect(tiktok.sentIds()).toHaveLength(2_500);
	});

	it('retries a plain Error (and a synchronous throw) as retryable, with no unhandled rejection', async () => {
		const unhandled: unknown[] = [];
		const onUnhandled = (reason: unknown) => unhandled.push(reason);
		process.on('unhandledRejection', onUnhandled);
		try {
			tiktok.fail = (_request, index) => (index === 0 ? new Error('socket hang up') : undefined);
			const result = submit(emailUsers(2), { waitForDelivery: true });
			await clock.advance(5 * SECOND);
			expect((await result).outcomes[0]).toEqual({ status: 'pending', reason: 'will retry: Error: socket hang up' });
			await clock.advance(5 * SECOND);
			expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 2 });

			let calls = 0;
			const throwsSynchronously = (() => {
				calls++;
				if (calls === 1) throw new TypeError('boom');
				return Promise.resolve();
			}) as unknown as SubmitRequest['send'];
			await submit(emailUsers(2, 10), { send: throwsSynchronously });
			await clock.advance(10 * SECOND);
			expect(calls).toBe(2);
			expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 4, pending: 0 });
			await new Promise((resolve) => setImmediate(resolve));
			expect(unhandled).toEqual([]);
		} finally {
			process.off('unhandledRejection', onUnhandled);
		}
	});
});
