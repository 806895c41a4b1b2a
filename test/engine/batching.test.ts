import type { BatchSyncEngine } from '../../nodes/TikTokBatchSync/engine';
import type { Destination, SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers, expectWhole, ENGINE_KINDS, freshEngine, type EngineUnderTest, hexId, submitEmails } from '../harness/engine';
import { FakeClock, T0 } from '../harness/clock';

const SCOPE = 'wf-1:Batch Sync';

describe.each(ENGINE_KINDS)('Batch Sync engine (%s): gathering and chunking', (kind) => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: BatchSyncEngine;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) => submitEmails({ tiktok, coordinator }, SCOPE, users, extra);

	let engine: EngineUnderTest;
	beforeEach(() => ({ clock, tiktok, coordinator } = engine = freshEngine(kind)));

	afterEach(() => engine.dispose());

	it('sends nothing before the 5 s window ends and everything gathered at 5 s, timed from the first user', async () => {
		await submit(emailUsers(2, 0));
		await expectWhole(coordinator, SCOPE);
		await clock.advance(3_000);
		await submit(emailUsers(3, 100));
		await clock.advance(1_999);
		expect(tiktok.calls).toHaveLength(0);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 5, pending: 5, synced: 0 });

		await clock.advance(1);
		expect(tiktok.calls).toHaveLength(1);
		expect(tiktok.calls[0].at).toBe(T0 + 5_000);
		expect(tiktok.calls[0].request.batchData).toHaveLength(5);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 5, pending: 0, synced: 5 });

		// The next user opens a new window.
		await submit(emailUsers(1, 200));
		await clock.advance(4_999);
		expect(tiktok.calls).toHaveLength(1);
		await clock.advance(1);
		expect(tiktok.calls).toHaveLength(2);
		await expectWhole(coordinator, SCOPE);
	});

	it('sends a full chunk of 10,000 at once and keeps the remainder for the window', async () => {
		await submit(emailUsers(10_001));
		await clock.advance(0);
		expect(tiktok.calls).toHaveLength(1);
		expect(tiktok.calls[0].request.batchData).toHaveLength(10_000);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 10_000, pending: 1 });
		await clock.advance(5_000);
		expect(tiktok.calls).toHaveLength(2);
		expect(tiktok.calls[1].request.batchData).toHaveLength(1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 10_001, synced: 10_001, pending: 0 });
	});

	it('chunks 25,000 users into 10,000 / 10,000 / 5,000 rows with {} where a user lacks an id type', async () => {
		const destination: Destination = {
			advertiserId: 'adv-9',
			audienceId: 'aud-42',
			action: 'delete',
			idSchema: ['EMAIL_SHA256', 'PHONE_SHA256', 'AAID_MD5'],
		};
		// Every third user lacks a phone, every fifth lacks an email; the MD5 slot is upper case (kept verbatim).
		const users: SyncUser[] = [];
		for (let n = 0; n < 25_000; n++) {
			const email = n % 5 === 0 ? undefined : hexId(n, 'e');
			const phone = n % 3 === 0 && email !== undefined ? undefined : hexId(n, 'f');
			const aaid = n % 7 === 0 ? `AB${n.toString(16)}`.toUpperCase().padStart(32, '0') : undefined;
			users.push({ key: `user-${n}`, ids: [email, phone, aaid] });
		}
		const result = await submit(users, { destination });
		expect(result.tallies).toMatchObject({ entered: 25_000, pending: 25_000 });
		await clock.advance(0);
		expect(tiktok.calls.map((call) => call.request.batchData.length)).toEqual([10_000, 10_000]);
		await clock.advance(5_000);
		expect(tiktok.calls.map((call) => call.request.batchData.length)).toEqual([10_000, 10_000, 5_000]);

		const rows = tiktok.calls.flatMap((call) => call.request.batchData);
		for (const call of tiktok.calls) {
			expect(call.request).toMatchObject({ advertiserIds: ['adv-9'], action: 'delete' });
			expect(call.request.idSchema).toEqual(['EMAIL_SHA256', 'PHONE_SHA256', 'AAID_MD5']);
		}
		const expectedRow = (n: number) => users[n].ids.map((id) => (id === undefined ? {} : { id, audience_ids: ['aud-42'] }));
		const firstWrongRow = rows.findIndex((row, n) => JSON.stringify(row) !== JSON.stringify(expectedRow(n)));
		expect(firstWrongRow).toBe(-1);
		// Spot-check the three shapes of slot explicitly.
		expect(rows[15]).toEqual([{}, { id: hexId(15, 'f'), audience_ids: ['aud-42'] }, {}]);
		expect(rows[14]).toEqual([
			{ id: hexId(14, 'e'), audience_ids: ['aud-42'] },
			{ id: hexId(14, 'f'), audience_ids: ['aud-42'] },
			{ id: '00000000000000000000000000000ABE', audience_ids: ['aud-42'] },
		]);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 25_000, synced: 25_000 });
	});

	it('sends duplicate users of one buffer once, and still gives each submitted user its outcome', async () => {
		const a = { key: 'a', ids: [hexId(1)] };
		const b = { key: 'b', ids: [hexId(2)] };
		const first = submit([a, b, a], { waitForDelivery: true });
		await clock.advance(1_000);
		const second = submit([b, { key: 'c', ids: [hexId(3)] }], { waitForDelivery: true });
		await clock.advance(4_000);
		const [firstResult, secondResult] = await Promise.all([first, second]);

		expect(tiktok.calls).toHaveLength(1);
		expect(tiktok.sentIds()).toEqual([hexId(1), hexId(2), hexId(3)]);
		expect(firstResult.outcomes.map((outcome) => outcome.status)).toEqual(['synced', 'synced', 'synced']);
		expect(secondResult.outcomes.map((outcome) => outcome.status)).toEqual(['synced', 'synced']);
		expect(firstResult.tallies).toMatchObject({ entered: 3, synced: 3 });
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 5, synced: 5, pending: 0 });

		// Outside the window a user is sent again (at-least-once; TikTok ignores the repeat).
		await submit([a]);
		await clock.advance(5_000);
		expect(tiktok.sentIds()).toEqual([hexId(1), hexId(2), hexId(3), hexId(1)]);
	});

	it('keeps separate queues per destination and counts not-synced users the node refused', async () => {
		const other: Destination = { ...EMAIL_DESTINATION, audienceId: 'aud-2' };
		const result = await submit(emailUsers(3), { notSyncedReasons: ['invalid email', 'invalid email'] });
		expect(result.tallies).toEqual({ entered: 5, notSynced: 2, synced: 0, pending: 3, errored: 0, rejected: 0, added: 0, removed: 0 });
		await submit(emailUsers(2, 50), { destination: other });
		await coordinator.recordNotSynced(SCOPE, ['no identifier']);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({
			entered: 8,
			notSynced: 3,
			pending: 5,
			notSyncedReasons: { 'invalid email': 2, 'no identifier': 1 },
		});
		await clock.advance(5_000);
		expect(tiktok.calls.map((call) => call.request.batchData[0][0])).toEqual([
			{ id: hexId(0), audience_ids: ['aud-1'] },
			{ id: hexId(50), audience_ids: ['aud-2'] },
		]);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 5, pending: 0 });
	});

	it('flush sends what is buffered without waiting for the window', async () => {
		await submit(emailUsers(4));
		await coordinator.flush(SCOPE);
		expect(tiktok.calls).toHaveLength(1);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 4 });
	});

	it('refuses malformed users before accepting any', async () => {
		await expect(submit([{ key: 'x', ids: [hexId(1), hexId(2)] }])).rejects.toThrow(TypeError);
		await expect(submit([{ key: 'x', ids: [undefined] }])).rejects.toThrow(/no id/);
		expect((await coordinator.report(SCOPE)).entered).toBe(0);
	});
});
