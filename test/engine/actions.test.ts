import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { BatchSyncEngine } from '../../nodes/TikTokBatchSync/engine';
import type { SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { FakeClock, HOUR, T0 } from '../harness/clock';
import { emailUsers, expectWhole, FakeTikTok, ENGINE_KINDS, freshEngine, type EngineUnderTest, restartEngine, hexId, submitEmails } from '../harness/engine';

const SCOPE = 'wf-consent:Batch Sync';
const SECOND = 1_000;

const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });

/** One user by number, with its own action. */
const user = (n: number, action: 'add' | 'delete'): SyncUser => ({ key: hexId(n), ids: [hexId(n)], action });

/** Each request as "action:id,id,…", in the order TikTok received them. */
const requestsSeen = (tiktok: FakeTikTok) =>
	tiktok.calls.map(
		(call) => `${call.request.action}:${call.request.batchData.map((row) => (row[0] as { id: string }).id.replace(/^0+/, '')).join(',')}`,
	);

describe.each(ENGINE_KINDS)('Batch Sync engine (%s): add or remove per user', (kind) => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: BatchSyncEngine;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) =>
		submitEmails({ tiktok, coordinator }, SCOPE, users, { settings: { windowMs: 5 * SECOND }, ...extra });

	let engine: EngineUnderTest;
	beforeEach(() => ({ clock, tiktok, coordinator } = engine = freshEngine(kind)));
	afterEach(() => engine.dispose());

	it('in one window the last action wins: an opt-in then an opt-out of a user is one removal, and both runs count it', async () => {
		const optIn = await submit([user(1, 'add'), user(2, 'add')]);
		const optOut = await submit([user(1, 'delete'), user(3, 'delete')]);
		await clock.advance(5 * SECOND);
		expect(requestsSeen(tiktok).sort()).toEqual(['add:a2', 'delete:a1,a3']);
		expect(optIn.tallies).toMatchObject({ entered: 2, pending: 2 });
		expect(optOut.tallies).toMatchObject({ entered: 2, pending: 2 });
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 4, synced: 4, pending: 0, added: 1, removed: 3 });
	});

	it('a run waiting for delivery follows a user moved by a later action to the request that carries it', async () => {
		const waiting = submit([user(1, 'add')], { waitForDelivery: true });
		await submit([user(1, 'delete')]);
		await clock.advance(5 * SECOND);
		const result = await waiting;
		expect(result.outcomes).toEqual([{ status: 'synced' }]);
		expect(result.tallies).toMatchObject({ synced: 1, added: 0, removed: 1 });
		expect(requestsSeen(tiktok)).toEqual(['delete:a1']);
	});

	it("a removal waits for an earlier window's add of the audience to be delivered, even through retries", async () => {
		tiktok.fail = (request, index) => (request.action === 'add' && index < 2 ? serverError() : undefined);
		await submit([user(1, 'add')]);
		await clock.advance(5 * SECOND); // window 1: the add fails, retried in 5 s
		const waiting = submit([user(1, 'delete')], { waitForDelivery: true, settings: { windowMs: 0 } });
		await clock.advance(0);
		const removal = await waiting;
		// Scheduled behind the add's retry: the run returns with the user pending instead of waiting for it.
		expect(removal.outcomes).toEqual([{ status: 'pending' }]);
		expect(requestsSeen(tiktok)).toEqual(['add:a1']);
		await clock.advance(HOUR);
		expect(requestsSeen(tiktok)).toEqual(['add:a1', 'add:a1', 'add:a1', 'delete:a1']);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 2, pending: 0, added: 1, removed: 1 });
	});

	it('requests with the same action are not held back by an earlier one waiting for a retry', async () => {
		tiktok.fail = (request) => (request.batchData.length === 1 && request.action === 'add' ? serverError() : undefined);
		await submit([user(1, 'add')], { settings: { windowMs: 0 } });
		await clock.advance(0);
		await submit([user(2, 'add'), user(3, 'add')], { settings: { windowMs: 0 } });
		await clock.advance(0);
		expect(requestsSeen(tiktok)).toEqual(['add:a1', 'add:a2,a3']);
	});

	it('after a restart the journal keeps the order: add, remove, add again of one user go out in that order', async () => {
		tiktok.fail = () => serverError();
		await submit([user(1, 'add')]);
		await clock.advance(5 * SECOND);
		await submit([user(1, 'delete')], { settings: { windowMs: 0 } });
		await clock.advance(1);
		await submit([user(1, 'add')], { settings: { windowMs: 0 } });
		await clock.advance(1);
		const later = new FakeClock(T0 + HOUR);
		const restartedTikTok = new FakeTikTok(later);
		restartedTikTok.fail = (_request, index) => (index === 0 ? serverError() : undefined);
		const restarted = await restartEngine(engine, SCOPE, later, restartedTikTok);
		await later.advance(HOUR);
		expect(requestsSeen(restartedTikTok)).toEqual(['add:a1', 'add:a1', 'delete:a1', 'add:a1']);
		expect(await expectWhole(restarted, SCOPE)).toMatchObject({ pending: 0, added: 2, removed: 1 });
		restarted.reset();
	});

	it('users without their own action take the destination’s', async () => {
		await submit(emailUsers(2), { settings: { windowMs: 0 } });
		await clock.advance(0);
		expect(tiktok.calls.map((call) => call.request.action)).toEqual(['add']);
	});
});
