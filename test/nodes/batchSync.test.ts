import type { IDataObject, IRun } from 'n8n-workflow';

import { getCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { appendFileSync, existsSync, readFileSync, rmSync, statSync } from 'node:fs';

import { readJournalFile, type SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { decodeGroupIds } from '../../nodes/TikTokBatchSync/engine/journal';
import { journalFilePath, resetJournalMemory, STATIC_DATA_KEY } from '../../nodes/TikTokBatchSync/journalStore';
import { digestHex } from '../../nodes/shared/digest';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { chain, itemsNode, outputOf, runWorkflow, type CredentialFixtures } from '../harness/n8n';
import { DEMO, OTHER, type TikTokLocal } from '../tiktok-local/server';
import {
	accessTokenCredentials,
	BATCH_NODE_NAME,
	batchNode,
	createAudience as createAudienceIn,
	expectInvariant,
	locator,
	syncParameters as syncParametersOf,
} from '../harness/fixtures';
import { useLocalTikTok } from '../harness/localTikTok';

const NAME = BATCH_NODE_NAME;

let local: TikTokLocal;

const id = locator;
const sha = (value: string) => digestHex('sha256', value);
const credentials = (token = DEMO.accessToken): CredentialFixtures => accessTokenCredentials(local, token);

interface Execution {
	run: IRun;
	staticData: IDataObject;
	metrics: IDataObject;
	users: IDataObject[];
}

async function execute(parameters: IDataObject, items: IDataObject[], staticData: IDataObject = {}, creds = credentials()): Promise<Execution> {
	const { run, staticData: saved } = await runWorkflow({
		nodes: [itemsNode(items), batchNode(parameters)],
		connections: chain('Items', NAME),
		credentials: creds,
		staticData,
		mode: 'webhook',
		workflowId: 'wf-batch',
	});
	if (run.data.resultData.error) throw new Error(`run failed: ${run.data.resultData.error.message}`);
	return {
		run,
		// What n8n would save: a plain copy of the workflow's static data after the run.
		staticData: JSON.parse(JSON.stringify(saved)) as IDataObject,
		metrics: outputOf(run, NAME, 0)[0].json,
		users: outputOf(run, NAME, 1).map((item) => item.json),
	};
}

const createAudience = (name: string) => createAudienceIn(local, name);

/** The node's journal file in n8n's data folder: its text as written, and what reading it back gives. */
const journalPath = (workflowId = 'wf-batch') => journalFilePath(workflowId, NAME);
const journalText = (workflowId = 'wf-batch') => readFileSync(journalPath(workflowId), 'utf8');
const journalOnDisk = (workflowId = 'wf-batch') => readJournalFile(journalPath(workflowId));

/** The shared Sync Users parameters with a 1 s window (these tests check gathering across executions). */
const syncParameters = (audienceId: string, options: IDataObject = {}) => syncParametersOf(audienceId, { windowSeconds: 1, ...options });

useLocalTikTok((started) => (local = started));

it('50 concurrent executions with 20,000 distinct users: every user lands, in few requests, and metrics add up', async () => {
	const audienceId = await createAudience('concurrent');
	const runs = await Promise.all(
		Array.from({ length: 50 }, (_, run) =>
			execute(
				syncParameters(audienceId),
				Array.from({ length: 400 }, (_, i) => ({ email: `user${run * 400 + i}@example.com`, plan: 'pro' })),
			),
		),
	);
	expect(local.memberCount(audienceId)).toBe(20_000);
	const members = new Set(local.members(audienceId));
	for (const n of [0, 7_777, 19_999]) expect(members.has(`EMAIL_SHA256:${sha(`user${n}@example.com`)}`)).toBe(true);
	// Gathered across executions: 20,000 users need only 2 full requests (a third at most if a window split them).
	expect(local.stats().byPath['segment/mapping/']).toBeLessThanOrEqual(3);
	for (const { metrics, users } of runs) {
		expect(metrics).toMatchObject({ entered: 400, proceeded: 400, synced: 400, notSynced: 0, pending: 0, errored: 0 });
		expect(users).toHaveLength(400);
		expect(users.every((user) => (user.tiktokSync as IDataObject).status === 'synced' && user.plan === 'pro')).toBe(true);
	}
	const totals = getCoordinator().report('wf-batch:' + NAME);
	expect(totals).toMatchObject({ entered: 20_000, synced: 20_000, pending: 0 });
	// The journal file: counters and nothing pending, and no raw value anywhere; static data is left alone.
	expect(journalOnDisk()?.journal).toMatchObject({ counters: { entered: 20_000, synced: 20_000, pending: 0 }, queues: [] });
	expect(journalText()).not.toMatch(/example\.com|user\d+/);
	expect(runs[49].staticData.global ?? {}).toEqual({});
}, 60_000);

it('users without a usable identifier are "not synced" with a reason, counted, and passed on', async () => {
	const audienceId = await createAudience('reasons');
	const { metrics, users } = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [
		{ email: 'ok@example.com' },
		{ email: 'nope' },
		{ email: null },
		{ email: 'ok@example.com' },
	]);
	expect(metrics).toMatchObject({ entered: 4, synced: 2, notSynced: 2, pending: 0, errored: 0 });
	expect(metrics.notSyncedReasons).toEqual({ 'email is not a valid address': 1, 'no identifier to match (email all empty)': 1 });
	expect(users.map((u) => (u.tiktokSync as IDataObject).status)).toEqual(['synced', 'not_synced', 'not_synced', 'synced']);
	expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${sha('ok@example.com')}`]);
	expectInvariant(metrics);
	expectInvariant(metrics.totals as IDataObject);
});

it('a rate-limited TikTok keeps users pending and journaled (hashed); after a restart Flush & Report delivers them', async () => {
	const audienceId = await createAudience('restart');
	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 40100 });
	const emails = Array.from({ length: 30 }, (_, i) => `pending${i}@example.com`);
	const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), emails.map((email) => ({ email })));
	const staticData = first.staticData;
	expect(first.metrics).toMatchObject({ entered: 30, pending: 30, synced: 0 });
	expect((first.users[0].tiktokSync as IDataObject).status).toBe('pending');
	const journal = journalText();
	const journaledIds = journalOnDisk()!.journal.queues.flatMap((queue) => queue.groups.flatMap((group) => decodeGroupIds(group, 1)[0]));
	expect(journaledIds).toContain(sha('pending0@example.com'));
	expect(journal).not.toContain('example.com');
	expect(journal).not.toContain('pending0');

	// "Restart": a new process has an empty coordinator; the journal file is all that survives.
	getCoordinator().reset();
	resetPacers();
	local.clearFaults();
	const flush = await execute({ operation: 'flush' }, [{}], staticData);
	expect(local.memberCount(audienceId)).toBe(30);
	expect(flush.metrics).toMatchObject({ operation: 'flush', entered: 30, synced: 30, pending: 0 });
	expect((flush.metrics.nodes as IDataObject)[NAME]).toMatchObject({ synced: 30 });
	expect(flush.users).toEqual([]);
});

it('a revoked token keeps users pending; reconnecting the credential in time syncs them', async () => {
	const audienceId = await createAudience('reconnect');
	local.revokeToken(DEMO.accessToken);
	const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [{ email: 'a@example.com' }, { email: 'b@example.com' }]);
	expect(first.metrics).toMatchObject({ pending: 2, errored: 0 });
	const staticData = first.staticData;

	local.addToken('reconnected-token', DEMO.appId);
	const second = await execute({ operation: 'flush' }, [{}], staticData, credentials('reconnected-token'));
	expect(second.metrics).toMatchObject({ synced: 2, pending: 0, errored: 0 });
	expect(local.memberCount(audienceId)).toBe(2);
});

it('an audience deleted in TikTok errors its users at once with the reason; another audience is unaffected', async () => {
	const doomed = await createAudience('doomed');
	const healthy = await createAudience('healthy');
	local.deleteAudience(doomed);
	const bad = await execute(syncParameters(doomed, { windowSeconds: 0 }), [{ email: 'x@example.com' }]);
	expect(bad.metrics).toMatchObject({ errored: 1, pending: 0 });
	expect(Object.keys(bad.metrics.erroredReasons as IDataObject).join()).toMatch(/40002/);
	const good = await execute(syncParameters(healthy, { windowSeconds: 0 }), [{ email: 'y@example.com' }]);
	expect(good.metrics).toMatchObject({ synced: 1 });
});

it('without waiting for delivery the run returns at once with users pending; a later flush reports them synced', async () => {
	const audienceId = await createAudience('nowait');
	const first = await execute(syncParameters(audienceId, { windowSeconds: 2, waitForDelivery: false }), [{ email: 'later@example.com' }]);
	const staticData = first.staticData;
	expect(first.metrics).toMatchObject({ entered: 1, pending: 1, synced: 0 });
	expect(local.memberCount(audienceId)).toBe(0);
	const flush = await execute({ operation: 'flush' }, [{}], staticData);
	expect(flush.metrics).toMatchObject({ synced: 1, pending: 0 });
	expect(local.memberCount(audienceId)).toBe(1);
});

it('remove takes users out of the audience; "by name" creates the audience once', async () => {
	const parameters = { ...syncParameters(''), audienceSelection: 'byName', audienceName: 'by name', options: { windowSeconds: 0 } };
	const added = await execute(parameters, [{ email: 'a@example.com' }, { email: 'b@example.com' }]);
	const audienceId = String(added.metrics.audienceId);
	expect(local.memberCount(audienceId)).toBe(2);
	const removed = await execute({ ...parameters, action: 'remove' }, [{ email: 'a@example.com' }]);
	expect(removed.metrics).toMatchObject({ synced: 1, audienceId });
	expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${sha('b@example.com')}`]);
	expect(local.stats().audiences.filter((a) => a.name === 'by name')).toHaveLength(1);
});

it('never sends more than 50 requests/s, as the local TikTok API measures it, even from two executions sending to two audiences', async () => {
	const audienceA = await createAudience('pace A');
	const audienceB = await createAudience('pace B');
	const users = (prefix: string) => Array.from({ length: 4_000 }, (_, i) => ({ email: `${prefix}${i}@example.com` }));
	// 100 users per request: 80 requests in all, which cannot all go within one second.
	const [a, b] = await Promise.all([
		execute(syncParameters(audienceA, { windowSeconds: 0, usersPerRequest: 100 }), users('a')),
		execute(syncParameters(audienceB, { windowSeconds: 0, usersPerRequest: 100 }), users('b')),
	]);
	expect(a.metrics).toMatchObject({ synced: 4_000 });
	expect(b.metrics).toMatchObject({ synced: 4_000 });
	const stats = local.stats();
	expect(stats.byPath['segment/mapping/']).toBe(80);
	expect(stats.rejectedRateLimited).toBe(0);
	expect(stats.maxAttemptedPerSecondByApp[DEMO.appId]).toBeLessThanOrEqual(50);
	// Loose lower bound: timers run late on a busy machine; the ceiling is the guarantee.
	expect(stats.maxAttemptedPerSecondByApp[DEMO.appId]).toBeGreaterThanOrEqual(30);
});

it('an option out of range is a clear error naming the option, and nothing is sent', async () => {
	const audienceId = await createAudience('options');
	await expect(execute(syncParameters(audienceId, { usersPerRequest: 20_000 }), [{ email: 'a@example.com' }])).rejects.toThrow(
		/Invalid option value\. Users per Request: .*10000/,
	);
	expect(local.stats().byPath['segment/mapping/'] ?? 0).toBe(0);
});

it('"by name" resolves the audience once per 10 minutes, and again after TikTok says it is gone', async () => {
	const parameters = { ...syncParameters(''), audienceSelection: 'byName', audienceName: 'cached', options: { windowSeconds: 0 } };
	const first = await execute(parameters, [{ email: 'a@example.com' }]);
	for (let i = 0; i < 5; i++) await execute(parameters, [{ email: `b${i}@example.com` }]);
	// One lookup (list) for six runs: the rate budget goes to the mappings.
	expect(local.stats().byPath['dmp/custom_audience/list/']).toBe(1);
	const audienceId = String(first.metrics.audienceId);
	expect(local.memberCount(audienceId)).toBe(6);

	local.deleteAudience(audienceId);
	const failed = await execute(parameters, [{ email: 'c@example.com' }]);
	expect(failed.metrics).toMatchObject({ errored: 1, audienceId });
	const recreated = await execute(parameters, [{ email: 'd@example.com' }]);
	expect(recreated.metrics).toMatchObject({ synced: 1 });
	expect(recreated.metrics.audienceId).not.toBe(audienceId);
	expect(local.memberCount(String(recreated.metrics.audienceId))).toBe(1);
});

it('Flush & Report with another TikTok app’s credential does not take over a Sync node’s pending users', async () => {
	const audienceId = await createAudience('own credential');
	local.revokeToken(DEMO.accessToken);
	const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [{ email: 'a@example.com' }]);
	expect(first.metrics).toMatchObject({ pending: 1 });
	const otherApp: CredentialFixtures = {
		tikTokBusinessApi: { accessToken: OTHER.accessToken, appId: OTHER.appId, secret: OTHER.secret, environment: 'custom', baseUrl: local.url },
	};
	const flush = await execute({ operation: 'flush' }, [{}], first.staticData, otherApp);
	// Sent with the other app's token, TikTok would refuse the audience for good (40001) and error the user.
	expect(flush.metrics).toMatchObject({ pending: 1, errored: 0 });
	local.addToken('reconnected', DEMO.appId);
	const reconnected = await execute({ operation: 'flush' }, [{}], flush.staticData, credentials('reconnected'));
	expect(reconnected.metrics).toMatchObject({ synced: 1, pending: 0, errored: 0 });
});

it('after a restart, pending users are retried with the node’s own "Retry For", not the default 13 h', async () => {
	const audienceId = await createAudience('own horizon');
	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
	// Retry For 0.001 h = 3.6 s.
	const first = await execute(syncParameters(audienceId, { windowSeconds: 0, retryHorizonHours: 0.001 }), [{ email: 'a@example.com' }]);
	expect(first.metrics).toMatchObject({ pending: 1 });
	getCoordinator().reset();
	resetJournalMemory();
	local.clearFaults();
	await new Promise((resolve) => setTimeout(resolve, 3_700));
	const flush = await execute({ operation: 'flush' }, [{}], first.staticData);
	// With the default 13 h the user would have been sent now; with its own 3.6 s horizon it has expired.
	expect(flush.metrics).toMatchObject({ entered: 1, errored: 1, synced: 0 });
	expect(local.memberCount(audienceId)).toBe(0);
});

it('a manual run neither restores nor overwrites the production journal of the node', async () => {
	const audienceId = await createAudience('manual');
	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
	const production = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [{ email: 'prod@example.com' }]);
	getCoordinator().reset();
	resetJournalMemory();
	local.clearFaults();
	const { run, staticData } = await runWorkflow({
		nodes: [itemsNode([{ email: 'manual@example.com' }]), batchNode(syncParameters(audienceId, { windowSeconds: 0 }))],
		connections: chain('Items', NAME),
		credentials: credentials(),
		staticData: production.staticData,
		mode: 'manual',
		workflowId: 'wf-batch',
	});
	expect(outputOf(run, NAME, 0)[0].json).toMatchObject({ entered: 1, synced: 1 });
	// The production journal still holds its pending user, for the next production run to restore; the manual run
	// wrote none of its own, and static data is untouched.
	expect(journalOnDisk()?.journal.counters).toMatchObject({ entered: 1, pending: 1 });
	expect(existsSync(journalPath('wf-batch#manual'))).toBe(false);
	expect(staticData).toEqual(production.staticData);
	const next = await execute({ operation: 'flush' }, [{}], production.staticData);
	expect(next.metrics).toMatchObject({ synced: 1, pending: 0 });
	expect(local.members(audienceId)).toHaveLength(2);
});

it('add or remove per item: an opt-in and an opt-out of one user in one window, from two executions, leave the user out', async () => {
	const audienceId = await createAudience('consent');
	const perItem = { ...syncParameters(audienceId), action: 'perItem' };
	const [first, second] = await Promise.all([
		execute(perItem, [
			{ email: 'flipper@example.com', optedOut: false },
			{ email: 'stays@example.com', optedOut: false },
		]),
		execute(perItem, [
			{ email: 'flipper@example.com', optedOut: true },
			{ email: 'unsure@example.com', optedOut: 'maybe' },
		]),
	]);
	expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${sha('stays@example.com')}`]);
	// One window: one add request and one removal, the flipper only in the removal.
	expect(local.stats().byPath['segment/mapping/']).toBe(2);
	// The flipper's opt-in reports what was done: removed, by the later opt-out.
	expect(first.users.map((user) => user.tiktokSync)).toEqual([
		{ status: 'synced', audienceId, action: 'remove' },
		{ status: 'synced', audienceId, action: 'add' },
	]);
	expect(first.metrics).toMatchObject({ action: 'perItem', entered: 2, synced: 2, added: 1, removed: 1 });
	expect(second.metrics).toMatchObject({ entered: 2, synced: 2, added: 0, removed: 2 });
	// The flipper's two submissions both count as removed; "maybe" is truthy, so that user is removed too.
	const totals = getCoordinator().report('wf-batch:' + NAME);
	expect(totals).toMatchObject({ entered: 4, synced: 4, added: 1, removed: 3 });
	expectInvariant(totals as unknown as IDataObject);
});

it('add or remove per item: an item whose action is neither "add" nor "remove" is not synced, with a reason', async () => {
	const audienceId = await createAudience('bad action');
	const { metrics, users } = await execute({ ...syncParameters(audienceId, { windowSeconds: 0 }), action: 'perItem', itemAction: '={{ $json.choice }}' }, [
		{ email: 'yes@example.com', choice: ' ADD ' },
		{ email: 'no@example.com', choice: 'unsubscribe' },
	]);
	expect(users.map((user) => user.tiktokSync)).toEqual([
		{ status: 'synced', audienceId, action: 'add' },
		{ status: 'not_synced', reason: 'Action per Item must be "add" or "remove"', audienceId },
	]);
	expect(metrics).toMatchObject({ entered: 2, synced: 1, notSynced: 1, added: 1, notSyncedReasons: { 'Action per Item must be "add" or "remove"': 1 } });
	expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${sha('yes@example.com')}`]);
});

it('a manual Flush & Report reports its own (manual) totals and, read-only, the active workflow’s', async () => {
	const audienceId = await createAudience('manual-report');
	const flushManually = (staticData: IDataObject) =>
		runWorkflow({
			nodes: [itemsNode([{}]), batchNode({ operation: 'flush' })],
			connections: chain('Items', NAME),
			credentials: credentials(),
			staticData,
			mode: 'manual',
			workflowId: 'wf-batch',
		});
	// Live in this process: two production users synced, one not synced.
	const production = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [
		{ email: 'p1@example.com' },
		{ email: 'p2@example.com' },
		{ email: 'not an email' },
	]);
	const live = await flushManually(production.staticData);
	const liveReport = outputOf(live.run, NAME, 0)[0].json;
	expect(liveReport).toMatchObject({ operation: 'flush', entered: 0, synced: 0 });
	expect(liveReport.activeWorkflow).toMatchObject({ entered: 3, synced: 2, notSynced: 1, pending: 0, errored: 0 });
	expect((liveReport.activeWorkflow as IDataObject).nodes).toHaveProperty([NAME]);
	// After a restart nothing is live: the journaled counters are reported, and nothing is restored or sent.
	getCoordinator().reset();
	resetJournalMemory();
	const requestsBefore = local.stats().byPath['segment/mapping/'] ?? 0;
	const journaled = await flushManually(production.staticData);
	expect(outputOf(journaled.run, NAME, 0)[0].json.activeWorkflow).toMatchObject({ entered: 3, synced: 2, notSynced: 1 });
	expect(local.stats().byPath['segment/mapping/'] ?? 0).toBe(requestsBefore);
	expect(JSON.stringify(journaled.staticData)).toBe(JSON.stringify(production.staticData));
});

it('a manual run hints about pending users only when some are left pending, in words for n8n 1.x and 2.x', async () => {
	const audienceId = await createAudience('manual hint');
	const manualRun = async (email: string) => {
		const { run } = await runWorkflow({
			nodes: [itemsNode([{ email }]), batchNode(syncParameters(audienceId, { windowSeconds: 0 }))],
			connections: chain('Items', NAME),
			credentials: credentials(),
			mode: 'manual',
			workflowId: 'wf-hint',
		});
		return { metrics: outputOf(run, NAME, 0)[0].json, hints: (run.data.resultData.runData[NAME][0].hints ?? []).map((h) => h.message) };
	};
	const delivered = await manualRun('delivered@example.com');
	expect(delivered.metrics).toMatchObject({ synced: 1, pending: 0 });
	expect(delivered.hints).toEqual([]);

	local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
	const pending = await manualRun('pending@example.com');
	expect(pending.metrics).toMatchObject({ pending: 1 });
	expect(pending.hints).toEqual([expect.stringMatching(/^1 user is still pending\..*activated or published workflow/)]);
	local.clearFaults();
	getCoordinator().reset();
});

it('"by name" falls back to the audience resolved earlier when TikTok cannot list audiences right now', async () => {
	const parameters = { ...syncParameters(''), audienceSelection: 'byName', audienceName: 'fallback', options: { windowSeconds: 0 } };
	const first = await execute(parameters, [{ email: 'a@example.com' }]);
	const realNow = Date.now;
	// 11 minutes later the remembered lookup is stale, and TikTok's audience list is failing.
	const later = realNow() + 11 * 60_000;
	const clock = jest.spyOn(Date, 'now').mockImplementation(() => later);
	try {
		local.injectFault({ count: 10, pathIncludes: 'custom_audience/list', code: 50000 });
		const second = await execute(parameters, [{ email: 'b@example.com' }]);
		expect(second.metrics).toMatchObject({ synced: 1, audienceId: first.metrics.audienceId });
	} finally {
		clock.mockRestore();
	}
	expect(local.memberCount(String(first.metrics.audienceId))).toBe(2);
});

it('with Continue On Fail, a run that cannot start passes its users on as rejected and its metrics still add up', async () => {
	const { run } = await runWorkflow({
		nodes: [
			itemsNode([{ email: 'a@example.com' }, { email: 'b@example.com' }]),
			// An ad account ID this token cannot reach: resolving the audience by name fails for good.
			{
				...batchNode({ ...syncParameters(''), advertiserId: id('7100000000000000003'), audienceSelection: 'byName', audienceName: 'x' }),
				onError: 'continueRegularOutput',
			},
		],
		connections: chain('Items', NAME),
		credentials: credentials(),
		mode: 'webhook',
		workflowId: 'wf-batch',
	});
	const metrics = outputOf(run, NAME, 0)[0].json;
	expect(metrics).toMatchObject({ entered: 0, proceeded: 2, rejected: 2, synced: 0, pending: 0, errored: 0 });
	expect(String(metrics.error)).toMatch(/ad account/);
	const users = outputOf(run, NAME, 1);
	expect(users.map((u) => (u.json.tiktokSync as IDataObject).status)).toEqual(['rejected', 'rejected']);
	expect(users.map((u) => u.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
});

describe('the journal file (regular mode)', () => {
	it('an execution end appends what changed: with 5,000 users pending, one more user grows the file by a few hundred bytes', async () => {
		const audienceId = await createAudience('append only');
		local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
		const backlog = Array.from({ length: 5_000 }, (_, i) => ({ email: `backlog${i}@example.com` }));
		const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), backlog);
		expect(first.metrics).toMatchObject({ pending: 5_000 });
		const withBacklog = statSync(journalPath()).size;
		// 5,000 hashed ids are in the file (32 bytes each, in base64).
		expect(withBacklog).toBeGreaterThan(5_000 * 42);
		const growth: number[] = [];
		for (let i = 0; i < 3; i++) {
			const before = statSync(journalPath()).size;
			const next = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [{ email: `one-more${i}@example.com` }]);
			expect(next.metrics.totals).toMatchObject({ pending: 5_001 + i });
			growth.push(statSync(journalPath()).size - before);
		}
		// What the static-data journal rewrote at every execution end was the whole backlog (about 44 bytes per user).
		for (const bytes of growth) expect(bytes).toBeLessThan(2_000);
		// Read back, the file holds every pending user once.
		const onDisk = journalOnDisk()?.journal;
		expect(onDisk?.counters).toMatchObject({ entered: 5_003, pending: 5_003 });
		expect(onDisk?.queues.flatMap((queue) => queue.groups).reduce((sum, group) => sum + group.rows, 0)).toBe(5_003);
	});

	it('a journal an older version left in static data is taken over once: sent after the restart, then removed from static data', async () => {
		const audienceId = await createAudience('from static data');
		local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
		const emails = Array.from({ length: 20 }, (_, i) => ({ email: `legacy${i}@example.com` }));
		const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), emails);
		expect(first.metrics).toMatchObject({ pending: 20 });
		// What the older version saved: the journal and the node's settings under one key of the global static data.
		const legacy = (getCoordinator() as SyncCoordinator).exportJournal(`wf-batch:${NAME}`);
		const staticData: IDataObject = {
			global: {
				[STATIC_DATA_KEY]: {
					version: 1,
					nodes: { [NAME]: JSON.parse(JSON.stringify(legacy)) },
					profiles: { [NAME]: { requestsPerSecond: 50, settings: { windowMs: 0, usersPerRequest: 10_000, retryHorizonMs: 3_600_000, maxPendingUsers: 100_000 } } },
				},
				other: 'kept',
			},
		};
		expect(legacy.queues).not.toEqual([]);

		// Restart into the new version: no journal file yet, only static data.
		getCoordinator().reset();
		resetJournalMemory();
		resetPacers();
		local.clearFaults();
		rmSync(journalPath(), { force: true });
		const flush = await execute({ operation: 'flush' }, [{}], staticData);
		expect(flush.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0 });
		expect(local.memberCount(audienceId)).toBe(20);
		expect(flush.staticData.global).toEqual({ other: 'kept' });
		expect(journalOnDisk()?.journal.counters).toMatchObject({ entered: 20, synced: 20 });

		// Had n8n not saved the removal (a crash), the file wins over what is left in static data: nothing is sent twice.
		getCoordinator().reset();
		resetJournalMemory();
		const requests = local.stats().byPath['segment/mapping/'];
		const again = await execute({ operation: 'flush' }, [{}], staticData);
		expect(again.metrics).toMatchObject({ entered: 20, synced: 20, pending: 0 });
		expect(local.stats().byPath['segment/mapping/']).toBe(requests);
		expect(again.staticData.global).toEqual({ other: 'kept' });
	});

	it('a torn last line (a crash mid-append) is ignored; what came before is restored', async () => {
		const audienceId = await createAudience('torn');
		local.injectFault({ durationMs: 60_000, pathIncludes: 'segment/mapping', code: 50000 });
		const first = await execute(syncParameters(audienceId, { windowSeconds: 0 }), [{ email: 'kept@example.com' }, { email: 'kept2@example.com' }]);
		expect(first.metrics).toMatchObject({ pending: 2 });
		appendFileSync(journalPath(), '{"k":"d","c":');
		getCoordinator().reset();
		resetJournalMemory();
		resetPacers();
		local.clearFaults();
		const flush = await execute({ operation: 'flush' }, [{}]);
		expect(flush.metrics).toMatchObject({ entered: 2, synced: 2, pending: 0 });
		expect(local.memberCount(audienceId)).toBe(2);
	});
});
