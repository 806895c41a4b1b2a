import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { BatchSyncEngine, SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { getCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { BacklogFullError } from '../../nodes/TikTokBatchSync/engine/errors';
import type { SubmitRequest, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { FakeTikTok, emailUsers, expectWhole, ENGINE_KINDS, freshEngine, type EngineUnderTest, submitEmails } from '../harness/engine';
import { FakeClock } from '../harness/clock';

const SCOPE = 'wf-4:Batch Sync';

describe.each(ENGINE_KINDS)('Batch Sync engine (%s): backlog bound', (kind) => {
	let clock: FakeClock;
	let tiktok: FakeTikTok;
	let coordinator: BatchSyncEngine;
	const submit = (users: SyncUser[], extra: Partial<SubmitRequest> = {}) =>
		submitEmails({ tiktok, coordinator }, SCOPE, users, { settings: { maxPendingUsers: 20_000 }, ...extra });

	let engine: EngineUnderTest;
	beforeEach(() => ({ clock, tiktok, coordinator } = engine = freshEngine(kind)));

	afterEach(() => engine.dispose());

	it('turns away users beyond the bound while TikTok keeps failing, with a clear error, counting them nowhere', async () => {
		tiktok.fail = () => new TikTokApiError({ message: 'System error', code: 50000 });
		const result = await submit(emailUsers(30_000));
		expect(result.rejection).toBeInstanceOf(BacklogFullError);
		expect(result.rejection?.rejectedUsers).toBe(10_000);
		expect(result.rejection?.message).toMatch(/20000 users are already waiting.*TikTok error 50000.*send these users again/);
		expect(result.tallies).toEqual({ entered: 20_000, notSynced: 0, synced: 0, pending: 20_000, errored: 0, rejected: 10_000, added: 0, removed: 0 });
		expect(result.outcomes.slice(0, 20_000).every((outcome) => outcome.status === 'pending')).toBe(true);
		expect(result.outcomes.slice(20_000).every((outcome) => outcome.status === 'rejected')).toBe(true);
		expect(result.outcomes[29_999].reason).toBe(result.rejection?.message);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ entered: 20_000, pending: 20_000 });

		// Still full: a later run is turned away entirely, and nothing it brought is counted.
		const later = await submit(emailUsers(5, 90_000));
		expect(later.tallies.rejected).toBe(5);
		expect(await (await expectWhole(coordinator, SCOPE)).entered).toBe(20_000);

		// Once TikTok recovers the backlog drains and users are accepted again.
		tiktok.fail = undefined;
		await clock.advance(10_000);
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 20_000, pending: 0 });
		const again = await submit(emailUsers(5, 90_000));
		expect(again.rejection).toBeUndefined();
		expect(await (await expectWhole(coordinator, SCOPE)).entered).toBe(20_005);
	});

	it('makes a large run wait for room instead of rejecting while TikTok is draining the backlog', async () => {
		let maxPendingSeen = 0;
		tiktok.fail = async () => {
			maxPendingSeen = Math.max(maxPendingSeen, (await coordinator.report(SCOPE)).pending);
			return undefined;
		};
		const running = submit(emailUsers(55_000), { waitForDelivery: true });
		// The last 5,000 wait for their window.
		await clock.advance(5_000);
		const result = await running;
		expect(result.rejection).toBeUndefined();
		expect(maxPendingSeen).toBeLessThanOrEqual(20_000);
		expect(tiktok.calls.map((call) => call.request.batchData.length)).toEqual([10_000, 10_000, 10_000, 10_000, 10_000, 5_000]);
		expect(result.tallies).toMatchObject({ entered: 55_000, synced: 55_000, rejected: 0 });
		expect(await expectWhole(coordinator, SCOPE)).toMatchObject({ synced: 55_000, pending: 0 });
	});
});

describe('Batch Sync engine: process-wide coordinator', () => {
	it('is one instance however many times the module is loaded', () => {
		let first: SyncCoordinator | undefined;
		let second: SyncCoordinator | undefined;
		jest.isolateModules(() => {
			first = require('../../nodes/TikTokBatchSync/coordinator').getCoordinator();
		});
		jest.isolateModules(() => {
			second = require('../../nodes/TikTokBatchSync/coordinator').getCoordinator();
		});
		expect(first).toBeDefined();
		expect(first).toBe(second);
		expect(getCoordinator()).toBe(first);
	});
});
