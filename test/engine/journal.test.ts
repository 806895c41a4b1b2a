import { TikTokApiError } from '../../nodes/shared/transport/errors';
import { SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { JournalFormatError } from '../../nodes/TikTokBatchSync/engine/errors';
import type { Journal } from '../../nodes/TikTokBatchSync/engine/journal';
import type { Destination, SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers, expectWhole, freshEngine, submitEmails } from '../harness/engine';
import { FakeClock, HOUR, T0 } from '../harness/clock';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

const SCOPE = 'wf-3:Batch Sync';
const serverError = () => new TikTokApiError({ message: 'System error', code: 50000 });

/** What static data would hand back: a JSON round trip. */
const persisted = (journal: Journal): unknown => JSON.parse(JSON.stringify(journal));

describe('Batch Sync engine: journal', () => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: SyncCoordinator;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) => submitEmails({ tiktok, coordinator }, SCOPE, users, extra);

	beforeEach(() => {
		const engine = freshEngine('in-process');
		({ clock, tiktok } = engine);
		coordinator = engine.coordinator as SyncCoordinator;
	});

	afterEach(() => coordinator.reset());

	it('restores pending users and counters in a new process, sends them promptly, and only once', async () => {
		// Process 1: the first request succeeds, the second keeps failing; 2 users were refused by the node.
		tiktok.fail = (_request, index) => (index === 0 ? undefined : serverError());
		await submit(emailUsers(15_000), { notSyncedReasons: ['invalid email', 'invalid email'] });
		await clock.advance(10_000);
		const before = await expectWhole(coordinator, SCOPE);
		expect(before).toMatchObject({ entered: 15_002, synced: 10_000, notSynced: 2, pending: 5_000 });
		const journal = persisted(coordinator.exportJournal(SCOPE));
		coordinator.reset();

		// Process 2, an hour later.
		const clock2 = new FakeClock(T0 + HOUR);
		const tiktok2 = new FakeTikTok(clock2);
		const restarted = newTikTokCoordinator({ clock: clock2, random: () => 0.5 });
		expect(restarted.hasRestored(SCOPE)).toBe(false);
		expect(restarted.restore(SCOPE, journal, tiktok2.send, ALREADY_PACED)).toEqual({ restoredUsers: 5_000 });
		expect(restarted.hasRestored(SCOPE)).toBe(true);
		expect(await expectWhole(restarted, SCOPE)).toEqual(before);

		await clock2.advance(0);
		expect(tiktok2.calls).toHaveLength(1);
		expect(tiktok2.sentIds()).toEqual(emailUsers(5_000, 10_000).map((user) => user.key));
		expect(await expectWhole(restarted, SCOPE)).toMatchObject({ entered: 15_002, synced: 15_000, pending: 0 });

		// Every later execution calls restore too: nothing is added twice.
		expect(restarted.restore(SCOPE, journal, tiktok2.send, ALREADY_PACED)).toEqual({ restoredUsers: 0 });
		await clock2.advance(10_000);
		expect(tiktok2.calls).toHaveLength(1);

		// Counters continue.
		await restarted.submit({
			scope: SCOPE,
			destination: EMAIL_DESTINATION,
			users: emailUsers(3, 50_000),
			send: tiktok2.send,
			pacer: ALREADY_PACED,
			waitForDelivery: false,
		});
		await clock2.advance(5_000);
		expect(await expectWhole(restarted, SCOPE)).toMatchObject({ entered: 15_005, synced: 15_003 });
		restarted.reset();
	});

	it('flush right after restore resolves once the restored users have been attempted', async () => {
		tiktok.fail = () => serverError();
		await submit(emailUsers(300));
		await clock.advance(5_000);
		const journal = persisted(coordinator.exportJournal(SCOPE));
		coordinator.reset();

		const healthy = new FakeTikTok(clock);
		coordinator.restore(SCOPE, journal, healthy.send, ALREADY_PACED);
		await coordinator.flush(SCOPE);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 300, synced: 300, pending: 0 });
	});

	it('ignores a journal this coordinator wrote itself (a scope first restored after its own export)', async () => {
		await submit(emailUsers(10));
		const ownJournal = persisted(coordinator.exportJournal(SCOPE));
		expect(coordinator.restore(SCOPE, ownJournal, tiktok.send, ALREADY_PACED)).toEqual({ restoredUsers: 0 });
		await clock.advance(5_000);
		expect(tiktok.sentIds()).toHaveLength(10);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 10, synced: 10 });
	});

	it('takes at most 80 bytes per pending user (one SHA-256 email), buffered or waiting for a retry', async () => {
		await submit(emailUsers(9_999));
		const buffered = JSON.stringify(coordinator.exportJournal(SCOPE)).length / 9_999;
		tiktok.fail = () => serverError();
		await submit(emailUsers(10_000, 20_000));
		await clock.advance(5_000);
		const journal = coordinator.exportJournal(SCOPE);
		expect((await expectWhole(coordinator, SCOPE)).pending).toBe(19_999);
		const waiting = JSON.stringify(journal).length / 19_999;
		expect(buffered).toBeLessThanOrEqual(80);
		expect(waiting).toBeLessThanOrEqual(80);
		// Hashed ids only, and not as hex text.
		expect(JSON.stringify(journal)).not.toContain(emailUsers(1)[0].key);
		const groups = journal.queues[0].groups;
		expect(groups.reduce((sum, group) => sum + group.rows, 0)).toBe(19_999);
		expect(groups.every((group) => group.failures >= 1 && group.lastError === 'TikTok error 50000: System error')).toBe(true);
	});

	it('round-trips ids that are not lowercase hex and rows that lack a slot', async () => {
		const destination: Destination = { ...EMAIL_DESTINATION, idSchema: ['EMAIL_SHA256', 'IDFA_MD5'] };
		const users: SyncUser[] = [
			{ key: '1', ids: ['ab'.repeat(32), undefined] },
			{ key: '2', ids: [undefined, 'ABCDEF0123456789ABCDEF0123456789'] },
			{ key: '3', ids: ['cd'.repeat(32), 'not-a-hash'] },
			{ key: '3', ids: ['cd'.repeat(32), 'not-a-hash'] },
		];
		tiktok.fail = () => serverError();
		await submit(users, { destination });
		await clock.advance(5_000);
		const journal = persisted(coordinator.exportJournal(SCOPE));
		coordinator.reset();

		const tiktok2 = new FakeTikTok(clock);
		coordinator.restore(SCOPE, journal, tiktok2.send, ALREADY_PACED);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 4, pending: 4 });
		await clock.advance(0);
		expect(tiktok2.calls[0].request.batchData).toEqual([
			[{ id: 'ab'.repeat(32), audience_ids: ['aud-1'] }, {}],
			[{}, { id: 'ABCDEF0123456789ABCDEF0123456789', audience_ids: ['aud-1'] }],
			[
				{ id: 'cd'.repeat(32), audience_ids: ['aud-1'] },
				{ id: 'not-a-hash', audience_ids: ['aud-1'] },
			],
		]);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 4, synced: 4, pending: 0 });
	});

	it('errors restored users whose horizon passed while the process was down', async () => {
		tiktok.fail = () => serverError();
		await submit(emailUsers(5));
		await clock.advance(5_000);
		const journal = persisted(coordinator.exportJournal(SCOPE));
		coordinator.reset();
		const late = new FakeClock(T0 + 14 * HOUR);
		const lateTikTok = new FakeTikTok(late);
		const restarted = newTikTokCoordinator({ clock: late });
		restarted.restore(SCOPE, journal, lateTikTok.send, ALREADY_PACED);
		expect(await expectWhole(restarted, SCOPE)).toMatchObject({
			pending: 0,
			errored: 5,
			erroredReasons: { 'gave up after 13 h of retries: TikTok error 50000: System error': 5 },
		});
		expect(lateTikTok.calls).toHaveLength(0);
		restarted.reset();
	});

	it('says clearly when static data does not hold a readable journal, once', async () => {
		expect(() => coordinator.restore(SCOPE, { format: 'something else' }, tiktok.send, ALREADY_PACED)).toThrow(
			JournalFormatError,
		);
		expect(coordinator.restore(SCOPE, { format: 'something else' }, tiktok.send, ALREADY_PACED)).toEqual({
			restoredUsers: 0,
		});
		expect(coordinator.restore('other scope', undefined, tiktok.send, ALREADY_PACED)).toEqual({ restoredUsers: 0 });
		await expectWhole(coordinator, SCOPE);
	});
});
