import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { BatchSyncEngine } from '../../nodes/TikTokBatchSync/engine';
import { MAX_DISTINCT_REASONS, OTHER_REASONS } from '../../nodes/TikTokBatchSync/engine/counters';
import type { SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { FakeClock, SECOND, T0 } from '../harness/clock';
import { ENGINE_KINDS, FakeTikTok, emailUsers, expectWhole, freshEngine, hexId, submitEmails, type EngineUnderTest } from '../harness/engine';

const SCOPE = 'wf-limits:Batch Sync';

const rateLimited = () => new TikTokApiError({ message: 'Too many requests', tiktokMessage: 'Too many requests', code: 40100, httpStatus: 200 });
const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });
const permanent = (n: number) => new TikTokApiError({ message: `Bad audience ${n}`, tiktokMessage: `Bad audience ${n}`, code: 40002 });

describe.each(ENGINE_KINDS)('Batch Sync engine (%s): reason cap and horizon', (kind) => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: BatchSyncEngine;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) => submitEmails({ tiktok, coordinator }, SCOPE, users, extra);

	let engine: EngineUnderTest;
	beforeEach(() => ({ clock, tiktok, coordinator } = engine = freshEngine(kind)));
	afterEach(() => engine.dispose());

	it(`keeps at most ${MAX_DISTINCT_REASONS} distinct reasons per kind, the rest under "${OTHER_REASONS}", with exact counts`, async () => {
		// 30 distinct not-synced reasons, the first one twice; then 30 requests each errored with its own reason.
		const notSynced = ['reason 0', ...Array.from({ length: 30 }, (_, n) => `reason ${n}`)];
		await coordinator.recordNotSynced(SCOPE, notSynced);
		tiktok.fail = (_request, index) => permanent(index);
		await submit(emailUsers(30), { settings: { usersPerRequest: 1, windowMs: 0 } });
		await clock.advance(0);
		const counters = await expectWhole(coordinator, SCOPE);
		expect(counters).toMatchObject({ entered: 61, notSynced: 31, errored: 30, pending: 0 });
		const expectedNotSynced: Record<string, number> = { 'reason 0': 2 };
		for (let n = 1; n < MAX_DISTINCT_REASONS; n++) expectedNotSynced[`reason ${n}`] = 1;
		expectedNotSynced[OTHER_REASONS] = 30 - MAX_DISTINCT_REASONS;
		expect(counters.notSyncedReasons).toEqual(expectedNotSynced);
		// Errored reasons are capped the same way (which 25 come first depends on the send order: both engines
		// send one-user requests in the order the users came).
		expect(Object.keys(counters.erroredReasons)).toHaveLength(MAX_DISTINCT_REASONS + 1);
		expect(counters.erroredReasons[OTHER_REASONS]).toBe(30 - MAX_DISTINCT_REASONS);
		for (let n = 0; n < MAX_DISTINCT_REASONS; n++) expect(counters.erroredReasons[`TikTok error 40002: Bad audience ${n}`]).toBe(1);
	});

	it('a request queued behind a blocker (an earlier add held back by a rate-limit pause) is errored at the first look after its own horizon, never sent', async () => {
		const settings = { retryHorizonMs: 30 * SECOND, windowMs: 0 };
		tiktok.fail = () => rateLimited();
		const add = { key: hexId(1), ids: [hexId(1)] };
		await submit([add], { settings });
		await clock.advance(0);
		expect(tiktok.calls).toHaveLength(1);
		// The user opts out a second later: its removal waits behind the add, and the scope is held for 60 s.
		await clock.advance(SECOND);
		await submit([{ ...add, action: 'delete' }], { settings });
		// The add's retry comes due at its horizon (30 s) and is errored there; the removal (horizon 31 s) is still
		// held by the pause.
		await clock.advanceTo(T0 + 30 * SECOND);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 1, errored: 1 });
		await clock.advanceTo(T0 + 60 * SECOND - 1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 1, errored: 1 });
		// The pause ends: the removal is past its horizon, so it is errored without an attempt.
		await clock.advanceTo(T0 + 60 * SECOND);
		const counters = await expectWhole(coordinator, SCOPE);
		expect(counters).toMatchObject({ entered: 2, pending: 0, errored: 2, synced: 0 });
		expect(counters.erroredReasons).toEqual({
			'gave up after 30 s of retries: TikTok error 40100: Too many requests': 1,
			'gave up after 30 s of retries: no attempt could be made': 1,
		});
		expect(tiktok.calls.map((call) => call.request.action)).toEqual(['add']);
	});

	it('a request split and held back behind a blocker, released past its own horizon during a pause, is errored when the pause ends, never sent', async () => {
		const settings = { retryHorizonMs: 30 * SECOND, windowMs: 0 };
		// The add fails with a server error (no pause), so the removal is split at once and waits behind it.
		tiktok.fail = (_request, index) => (index === 0 ? serverError() : rateLimited());
		const add = { key: hexId(1), ids: [hexId(1)] };
		await submit([add], { settings });
		await clock.advance(SECOND);
		await submit([{ ...add, action: 'delete' }], { settings });
		await clock.advance(0);
		// The add's retry (5 s) is rate-limited: the scope is held until 125 s (its second failure: 120 s); its next retry is due at its horizon.
		await clock.advanceTo(T0 + 5 * SECOND);
		expect(tiktok.calls.map((call) => call.request.action)).toEqual(['add', 'add']);
		// At 30 s the add is errored and the removal released, but the pause holds it past its own horizon (31 s).
		await clock.advanceTo(T0 + 125 * SECOND - 1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ pending: 1, errored: 1 });
		await clock.advanceTo(T0 + 125 * SECOND);
		const counters = await expectWhole(coordinator, SCOPE);
		expect(counters).toMatchObject({ entered: 2, pending: 0, errored: 2, synced: 0 });
		expect(counters.erroredReasons).toEqual({
			'gave up after 30 s of retries: TikTok error 40100: Too many requests': 1,
			'gave up after 30 s of retries: no attempt could be made': 1,
		});
		expect(tiktok.calls.map((call) => call.request.action)).toEqual(['add', 'add']);
	});
});
