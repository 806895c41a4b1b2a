/**
 * Faults, node level: both nodes run as real n8n workflows against the local TikTok API with injected faults.
 * The Batch Sync node runs on a coordinator with a manual clock (installed with setCoordinatorForTests), so its
 * minutes and hours of retries take milliseconds while every request is real HTTP; the TikTok Audience node runs on
 * the real clock (its quick retries wait 1 s and 3 s).
 */
import type { IDataObject } from 'n8n-workflow';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

import { digestHex } from '../../nodes/shared/digest';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { setCoordinatorForTests } from '../../nodes/TikTokBatchSync/coordinator';
import { readJournalFile } from '../../nodes/TikTokBatchSync/engine';
import { journalFilePath } from '../../nodes/TikTokBatchSync/journalStore';
import { DEMO, startTikTokLocal, type FaultSpec, type TikTokLocal } from '../tiktok-local/server';
import { accessTokenCredentials, addParameters, audienceNode, batchNode, createAudience, expectInvariant, locator, syncParameters } from '../harness/fixtures';
import { forgetJournals, Driver, InflightTracker, runOne, type NodeRun, watchUnhandled, syncResults } from './helpers';
import { FakeClock, HOUR, MINUTE, T0 } from '../harness/clock';

let local: TikTokLocal;
const tracker = new InflightTracker();
let clock: FakeClock;
let driver: Driver;
let coordinator: SyncCoordinator;
let unhandled: ReturnType<typeof watchUnhandled>;

const memberOf = (email: string) => `EMAIL_SHA256:${digestHex('sha256', email)}`;
const emails = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com`);
const records = (list: string[]) => list.map((email, i) => ({ email, orderId: i }));

function expectMembersExactly(audienceId: string, list: string[]): void {
	expect(local.memberCount(audienceId)).toBe(list.length);
	expect(new Set(local.members(audienceId))).toEqual(new Set(list.map(memberOf)));
}

function journalOf(run: NodeRun): string {
	return run.journalText;
}

/** A Batch Sync execution, driven on the manual clock until it returns. */
async function batch(parameters: IDataObject, input: IDataObject[], options: Parameters<typeof runOne>[3] = {}): Promise<NodeRun> {
	const run = await driver.settle(runOne(local, batchNode(parameters), input, options));
	if (run.error) throw new Error(`run failed: ${run.error.message}`);
	const metrics = run.output(0)[0];
	expectInvariant(metrics);
	if (metrics.totals) expectInvariant(metrics.totals as IDataObject);
	for (const perNode of Object.values((metrics.nodes ?? {}) as IDataObject)) expectInvariant(perNode as IDataObject);
	return run;
}

const flush = (staticData: IDataObject, credentials = accessTokenCredentials(local)) =>
	batch({ operation: 'flush' }, [{}], { staticData, credentials });

const statuses = (run: NodeRun) => {
	const counts: Record<string, number> = {};
	for (const user of run.output(1)) {
		const status = (user.tiktokSync as IDataObject).status as string;
		counts[status] = (counts[status] ?? 0) + 1;
	}
	return counts;
};

beforeAll(async () => {
	local = await startTikTokLocal();
	tracker.install();
});

afterAll(async () => {
	tracker.restore();
	await local.close();
});

beforeEach(() => {
	local.reset();
	resetPacers();
	forgetJournals();
	clock = new FakeClock(T0);
	driver = new Driver(clock, tracker);
	coordinator = newTikTokCoordinator({ clock, random: () => 0.5 });
	setCoordinatorForTests(coordinator);
	unhandled = watchUnhandled();
});

afterEach(() => {
	coordinator.reset();
	setCoordinatorForTests(undefined);
	unhandled.stop();
	expect(unhandled.seen).toEqual([]);
});

describe('TikTok Batch Sync node', () => {
	it('40100 for minutes: the run reports users pending (journaled, hashed); Flush & Report later finds them all synced', async () => {
		const audienceId = await createAudience(local, 'rate limited');
		const list = emails(200, 'rl');
		local.injectFault({ durationMs: HOUR, pathIncludes: 'segment/mapping', code: 40100 });

		const first = await batch(syncParameters(audienceId), [...records(list), { email: 'not an email' }, { name: 'no email' }]);
		expect(first.output(0)[0]).toMatchObject({ entered: 202, proceeded: 202, pending: 200, notSynced: 2, synced: 0, errored: 0 });
		expect(statuses(first)).toEqual({ pending: 200, not_synced: 2 });
		expect((first.output(1)[0].tiktokSync as IDataObject).reason).toMatch(/^will retry: TikTok error 40100/);
		expect(first.output(1)[0].orderId).toBe(0);
		expect(journalOf(first)).not.toMatch(/example\.com|rl\d/);

		await driver.advanceTo(T0 + 5 * MINUTE);
		const during = await flush(first.staticData);
		expect(during.output(0)[0]).toMatchObject({ entered: 202, pending: 200, synced: 0, notSynced: 2 });
		expect(local.memberCount(audienceId)).toBe(0);

		local.clearFaults();
		await driver.advanceTo(T0 + 15 * MINUTE);
		const after = await flush(during.staticData);
		expect(after.output(0)[0]).toMatchObject({ entered: 202, synced: 200, notSynced: 2, pending: 0, errored: 0 });
		expectMembersExactly(audienceId, list);
	});

	it('50000, 50002, HTML 429, HTML 502 and a reset connection in a row: users stay pending, then all land', async () => {
		const audienceId = await createAudience(local, 'mixed faults');
		const list = emails(500, 'mix');
		const faults: FaultSpec[] = [
			{ code: 50000 },
			{ code: 50002 },
			{ httpStatus: 429, html: true },
			{ httpStatus: 502, html: true },
			{ reset: true, delayMs: 10 },
		];
		for (const fault of faults) local.injectFault({ count: 1, pathIncludes: 'segment/mapping', ...fault });

		const first = await batch(syncParameters(audienceId), records(list));
		expect(first.output(0)[0]).toMatchObject({ entered: 500, pending: 500 });
		await driver.advanceTo(T0 + 2 * MINUTE);
		const during = await flush(first.staticData);
		expect(during.output(0)[0]).toMatchObject({ entered: 500, pending: 500, synced: 0 });
		// 50000 at 0 s, 50002 at 5 s, the 429 at 15 s; after a 429 the next try waits 4 minutes.
		expect(local.stats().faultsInjected).toBe(3);

		await driver.advanceTo(T0 + HOUR);
		const after = await flush(during.staticData);
		expect(after.output(0)[0]).toMatchObject({ entered: 500, synced: 500, pending: 0, errored: 0 });
		expect(local.stats().faultsInjected).toBe(5);
		expectMembersExactly(audienceId, list);
	});

	it('token revoked mid-run: pending for hours; the first execution with the reconnected credential delivers them at once', async () => {
		const audienceId = await createAudience(local, 'reconnect');
		const early = emails(150, 'early');
		const late = emails(50, 'late');
		local.revokeToken(DEMO.accessToken);

		const first = await batch(syncParameters(audienceId), records(early));
		expect(first.output(0)[0]).toMatchObject({ entered: 150, pending: 150, errored: 0 });
		expect((first.output(1)[0].tiktokSync as IDataObject).reason).toBe(
			'will retry: TikTok error 40105: Access token is incorrect or has been revoked.',
		);
		await driver.advanceTo(T0 + 6 * HOUR);

		// Reconnect. The next execution (here Flush & Report, with no users of its own) uses the new credential at
		// once: the users waiting after the 40105 do not sit out their backoff.
		local.addToken('reconnected-token', DEMO.appId);
		const reconnected = accessTokenCredentials(local, 'reconnected-token');
		const report = await flush(first.staticData, reconnected);
		expect(report.output(0)[0]).toMatchObject({ entered: 150, synced: 150, pending: 0, errored: 0 });
		expectMembersExactly(audienceId, early);

		const second = await batch(syncParameters(audienceId), records(late), { staticData: report.staticData, credentials: reconnected });
		expect(second.output(0)[0]).toMatchObject({ entered: 50, synced: 50, pending: 0 });
		expect(second.output(0)[0].totals).toMatchObject({ entered: 200, synced: 200, pending: 0, errored: 0 });
		expectMembersExactly(audienceId, [...early, ...late]);
	});

	it('token revoked and never reconnected: pending until the 13 h horizon, then errored with the reason; the journal empties', async () => {
		const audienceId = await createAudience(local, 'never reconnected');
		const list = emails(300, 'gone');
		local.revokeToken(DEMO.accessToken);

		const first = await batch(syncParameters(audienceId), records(list));
		expect(first.output(0)[0]).toMatchObject({ entered: 300, pending: 300 });
		await driver.advanceTo(T0 + 13 * HOUR - 1);
		const before = await flush(first.staticData);
		expect(before.output(0)[0]).toMatchObject({ entered: 300, pending: 300, errored: 0 });

		await driver.advanceTo(T0 + 13 * HOUR);
		const after = await flush(before.staticData);
		expect(after.output(0)[0]).toMatchObject({
			entered: 300,
			synced: 0,
			pending: 0,
			errored: 300,
			erroredReasons: { 'gave up after 13 h of retries: TikTok error 40105: Access token is incorrect or has been revoked.': 300 },
		});
		const journal = readJournalFile(journalFilePath('wf-reliability', 'TikTok Batch Sync'))?.journal;
		expect(journal?.queues).toEqual([]);
		expect(journal?.counters).toMatchObject({ errored: 300, pending: 0 });
		expect(local.memberCount(audienceId)).toBe(0);
	});

	it('a short Retry For through the node errors users at its horizon', async () => {
		const audienceId = await createAudience(local, 'short horizon');
		local.injectFault({ durationMs: HOUR, pathIncludes: 'segment/mapping', code: 50000 });
		const first = await batch(syncParameters(audienceId, { retryHorizonHours: 0.5 }), records(emails(10, 'short')));
		await driver.advanceTo(T0 + 30 * MINUTE);
		const report = await flush(first.staticData);
		expect(report.output(0)[0]).toMatchObject({
			errored: 10,
			pending: 0,
			erroredReasons: { 'gave up after 30 min of retries: TikTok error 50000: System error. Please try again later.': 10 },
		});
	});

	it('an audience deleted in TikTok: its users errored at once with TikTok\'s reason; another audience is unaffected', async () => {
		const doomed = await createAudience(local, 'doomed');
		const healthy = await createAudience(local, 'healthy');
		local.deleteAudience(doomed);
		const bad = await batch(syncParameters(doomed), records(emails(40, 'doomed')));
		const reason = `TikTok error 40002: Parameter error: invalid audience ID ${doomed}: it does not exist, was deleted, or does not belong to advertiser_ids.`;
		expect(bad.output(0)[0]).toMatchObject({ entered: 40, errored: 40, pending: 0, erroredReasons: { [reason]: 40 } });
		expect(bad.output(1).every((user) => (user.tiktokSync as IDataObject).reason === reason)).toBe(true);

		const goodList = emails(60, 'healthy');
		const good = await batch(syncParameters(healthy), records(goodList), { staticData: bad.staticData });
		expect(good.output(0)[0]).toMatchObject({ entered: 60, synced: 60, errored: 0 });
		expect((good.output(0)[0].totals as IDataObject)).toMatchObject({ entered: 100, synced: 60, errored: 40, pending: 0 });
		expectMembersExactly(healthy, goodList);
		await driver.advanceTo(T0 + 13 * HOUR);
		expect(local.stats().byPath['segment/mapping/']).toBe(2);
	});
});

describe('TikTok Audience node', () => {
	const transient: Array<[string, FaultSpec]> = [
		['40100', { code: 40100 }],
		['50000', { code: 50000 }],
		['50002', { code: 50002 }],
		['HTTP 429 with an HTML body', { httpStatus: 429, html: true }],
		['HTTP 502 with an HTML body', { httpStatus: 502, html: true }],
		['a connection reset mid-request', { reset: true, delayMs: 10 }],
	];

	it.each(transient)('%s is retried and every user lands', async (_label, fault) => {
		const audienceId = await createAudience(local, 'quick retry');
		const list = emails(300, 'quick');
		local.injectFault({ count: 1, pathIncludes: 'segment/mapping', ...fault });
		const run = await runOne(local, audienceNode(addParameters(audienceId)), [...records(list), { email: 'broken' }]);
		expect(run.error).toBeUndefined();
		const out = syncResults(run.output());
		expect(out.filter((item) => item.status === 'synced')).toHaveLength(300);
		expect(out[300]).toMatchObject({ status: 'not_synced', reason: 'email is not a valid address' });
		expect(local.stats().byPath['segment/mapping/']).toBe(2);
		expectMembersExactly(audienceId, list);
	});

	it('TikTok failing past the quick retries: every item comes out with status "error" and a reason (Continue On Fail)', async () => {
		const audienceId = await createAudience(local, 'down');
		local.injectFault({ count: 3, pathIncludes: 'segment/mapping', httpStatus: 502, html: true });
		const run = await runOne(local, audienceNode(addParameters(audienceId), { onError: 'continueRegularOutput' }), records(emails(20, 'down')));
		const out = syncResults(run.output());
		expect(out).toHaveLength(20);
		for (const item of out) {
			expect(item).toMatchObject({ status: 'error', reason: 'TikTok HTTP 502: TikTok answered HTTP 502 without its JSON envelope' });
			expect(item.error).toMatch(/^TikTok had a temporary problem/);
			expect(JSON.stringify(item)).not.toMatch(/<html|DOCTYPE|edge-proxy/i);
		}
		expect(local.memberCount(audienceId)).toBe(0);
	});

	it('an audience deleted in TikTok: its items fail with TikTok\'s reason, items for another audience are synced', async () => {
		const doomed = await createAudience(local, 'doomed');
		const healthy = await createAudience(local, 'healthy');
		local.deleteAudience(doomed);
		const healthyList = emails(30, 'h');
		const input = [
			...emails(20, 'd').map((email) => ({ email, audience: doomed })),
			...healthyList.map((email) => ({ email, audience: healthy })),
		];
		const run = await runOne(
			local,
			audienceNode(addParameters('', { audienceId: locator('={{ $json.audience }}') }), { onError: 'continueRegularOutput' }),
			input,
		);
		const out = syncResults(run.output());
		expect(out.slice(0, 20).every((item) => item.status === 'error')).toBe(true);
		expect(out[0].reason).toBe(
			`TikTok error 40002: Parameter error: invalid audience ID ${doomed}: it does not exist, was deleted, or does not belong to advertiser_ids.`,
		);
		expect(out[0].error).toMatch(/TikTok does not know this audience: it may have been deleted in TikTok/);
		expect(out.slice(20).every((item) => item.status === 'synced' && item.audienceId === healthy)).toBe(true);
		expectMembersExactly(healthy, healthyList);
	});

	it('a revoked token stops the node with "reconnect the TikTok credential"; nothing is sent', async () => {
		const audienceId = await createAudience(local, 'revoked');
		local.revokeToken(DEMO.accessToken);
		const run = await runOne(local, audienceNode(addParameters(audienceId)), records(emails(5, 'r')));
		expect(run.error?.message).toMatch(/reconnect the TikTok credential/);
		expect(run.error?.message).toMatch(/40105/);
		expect(local.memberCount(audienceId)).toBe(0);
	});
});
