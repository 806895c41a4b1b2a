/**
 * Limits: 100,000 items in one execution through each node; the Batch Sync journal bound (Max Pending Users) reached
 * while TikTok fails; the 400-audience cap of an ad account; audience names longer than 70 characters.
 */
import type { IDataObject } from 'n8n-workflow';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

import { SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { getCoordinator, setCoordinatorForTests } from '../../nodes/TikTokBatchSync/coordinator';
import { decodeGroupIds, parseJournal } from '../../nodes/TikTokBatchSync/engine/journal';
import { adviceFor } from '../../nodes/shared/errors';
import { digestHex } from '../../nodes/shared/digest';
import { TikTokApiError } from '../../nodes/shared/transport/errors';
import { journalFilePath } from '../../nodes/TikTokBatchSync/journalStore';
import { readJournalFile } from '../../nodes/TikTokBatchSync/engine';
import { MAX_AUDIENCES_PER_ADVERTISER, type TikTokLocal } from '../tiktok-local/server';
import { US, addParameters, audienceNode, batchNode, createAudience, expectInvariant, locator, syncParameters } from '../harness/fixtures';
import { Driver, InflightTracker, runOne, type NodeRun, watchUnhandled, syncResults } from './helpers';
import { FakeClock, SECOND, T0 } from '../harness/clock';
import { useLocalTikTok } from '../harness/localTikTok';

let local: TikTokLocal;
let unhandled: ReturnType<typeof watchUnhandled>;

const memberOf = (email: string) => `EMAIL_SHA256:${digestHex('sha256', email)}`;

useLocalTikTok((started) => (local = started));

beforeEach(() => {
	unhandled = watchUnhandled();
});

afterEach(() => {
	getCoordinator().reset();
	unhandled.stop();
	expect(unhandled.seen).toEqual([]);
});

describe('100,000 items in one execution', () => {
	const COUNT = 100_000;
	const records = Array.from({ length: COUNT }, (_, i) => ({ email: `bulk${i}@example.com`, i }));

	function expectAllMembers(audienceId: string): void {
		expect(local.memberCount(audienceId)).toBe(COUNT);
		const members = new Set(local.members(audienceId));
		for (const i of [0, 1, 9_999, 10_000, 54_321, 99_999]) expect(members.has(memberOf(`bulk${i}@example.com`))).toBe(true);
		expect(local.stats()).toMatchObject({ mappingRequests: 10, usersReceived: COUNT });
	}

	it('TikTok Batch Sync node: 10 full requests, every user synced, metrics add up', async () => {
		const audienceId = await createAudience(local, 'bulk batch');
		const started = Date.now();
		const run = await runOne(local, batchNode(syncParameters(audienceId)), records);
		const elapsed = Date.now() - started;
		expect(run.error).toBeUndefined();
		const metrics = run.output(0)[0];
		expect(metrics).toMatchObject({ entered: COUNT, proceeded: COUNT, synced: COUNT, notSynced: 0, pending: 0, errored: 0, rejected: 0 });
		expectInvariant(metrics);
		const users = run.output(1);
		expect(users).toHaveLength(COUNT);
		expect(users.every((user, i) => user.i === i && (user.tiktokSync as IDataObject).status === 'synced')).toBe(true);
		expectAllMembers(audienceId);
		expect(elapsed).toBeLessThan(30_000);
	});

	it('TikTok Audience node: 10 full requests, one output item per input item', async () => {
		const audienceId = await createAudience(local, 'bulk audience');
		const started = Date.now();
		const run = await runOne(local, audienceNode(addParameters(audienceId)), records);
		const elapsed = Date.now() - started;
		expect(run.error).toBeUndefined();
		const out = syncResults(run.output());
		expect(out).toHaveLength(COUNT);
		expect(out.every((item) => item.status === 'synced' && item.audienceId === audienceId)).toBe(true);
		expectAllMembers(audienceId);
		expect(elapsed).toBeLessThan(30_000);
	});
});

describe('Max Pending Users (the journal bound) reached while TikTok fails', () => {
	const tracker = new InflightTracker();
	let clock: FakeClock;
	let driver: Driver;
	let coordinator: SyncCoordinator;
	const valid = Array.from({ length: 40 }, (_, i) => `bound${i}@example.com`);
	const input = [...valid.slice(0, 20).map((email) => ({ email })), { email: 'broken' }, ...valid.slice(20).map((email) => ({ email })), { email: null }];
	const options = { usersPerRequest: 10, maxPendingUsers: 25 };

	beforeAll(() => tracker.install());
	afterAll(() => tracker.restore());
	beforeEach(() => {
		clock = new FakeClock(T0);
		driver = new Driver(clock, tracker);
		coordinator = newTikTokCoordinator({ clock, random: () => 0.5 });
		setCoordinatorForTests(coordinator);
	});
	afterEach(() => {
		coordinator.reset();
		setCoordinatorForTests(undefined);
	});

	const run = (parameters: IDataObject, records: IDataObject[], extra: Parameters<typeof runOne>[3] = {}, onError?: 'continueRegularOutput') =>
		driver.settle(runOne(local, batchNode(parameters, onError ? { onError } : {}), records, { workflowId: 'wf-bound', ...extra }));

	function journaledHashes(): { hashes: string[]; users: number; counters: IDataObject } {
		const journal = parseJournal(readJournalFile(journalFilePath('wf-bound', 'TikTok Batch Sync'))?.journal);
		const hashes: string[] = [];
		let users = 0;
		for (const queue of journal.queues) {
			for (const group of queue.groups) {
				users += group.users;
				hashes.push(...(decodeGroupIds(group, 1)[0] as string[]));
			}
		}
		return { hashes, users, counters: journal.counters as unknown as IDataObject };
	}

	it('without Continue On Fail: a NodeOperationError says how many were refused and why; the accepted users are journaled', async () => {
		const audienceId = await createAudience(local, 'bounded');
		local.injectFault({ durationMs: 3_600_000, pathIncludes: 'segment/mapping', code: 50000 });
		const first = await run(syncParameters(audienceId, options), input);

		expect(first.error?.name).toBe('NodeOperationError');
		expect(first.error?.message).toBe(
			"15 user(s) were not accepted: 25 users are already waiting to be synced to TikTok and are being retried. TikTok's last error: " +
				'TikTok error 50000: System error. Please try again later. Fix the cause (for example reconnect the TikTok credential or check ' +
				'the audience), then send these users again; or raise "Max Pending Users".',
		);
		expect(first.error?.description).toBe('15 of 42 users were refused; the others were accepted and are journaled.');
		// Nothing silently dropped: exactly the first 25 valid users are journaled (hashed), the 2 invalid ones counted.
		const journal = journaledHashes();
		expect(journal.users).toBe(25);
		expect(journal.hashes.sort()).toEqual(valid.slice(0, 25).map((email) => digestHex('sha256', email)).sort());
		expect(journal.counters).toMatchObject({ entered: 27, pending: 25, notSynced: 2, synced: 0, errored: 0 });
		expectInvariant(journal.counters);

		// TikTok recovers: the journaled users land; the refused ones are not in TikTok until they are sent again.
		local.clearFaults();
		await driver.advance(10 * SECOND);
		const report = await run({ operation: 'flush' }, [{}], { staticData: first.staticData });
		expect(report.output(0)[0]).toMatchObject({ entered: 27, synced: 25, notSynced: 2, pending: 0, errored: 0 });
		expect(new Set(local.members(audienceId))).toEqual(new Set(valid.slice(0, 25).map(memberOf)));
		const again = await run(syncParameters(audienceId, options), valid.slice(25).map((email) => ({ email })), { staticData: report.staticData });
		expect(again.output(0)[0]).toMatchObject({ entered: 15, synced: 15, rejected: 0 });
		expect(local.memberCount(audienceId)).toBe(40);
	});

	it('with Continue On Fail: the run reports the refused users as "rejected" (metrics and per user) and carries on', async () => {
		const audienceId = await createAudience(local, 'bounded, continue');
		local.injectFault({ durationMs: 3_600_000, pathIncludes: 'segment/mapping', code: 50000 });
		const first = await run(syncParameters(audienceId, options), input, {}, 'continueRegularOutput');
		expect(first.error).toBeUndefined();
		const metrics = first.output(0)[0];
		expect(metrics).toMatchObject({ entered: 27, proceeded: 42, pending: 25, notSynced: 2, synced: 0, errored: 0, rejected: 15 });
		expectInvariant(metrics);
		const statuses = first.output(1).map((user) => (user.tiktokSync as IDataObject).status);
		expect(statuses.filter((status) => status === 'pending')).toHaveLength(25);
		expect(statuses.filter((status) => status === 'not_synced')).toHaveLength(2);
		const rejected = first.output(1).filter((user) => (user.tiktokSync as IDataObject).status === 'rejected');
		expect(rejected.map((user) => user.email)).toEqual(valid.slice(25));
		expect((rejected[0].tiktokSync as IDataObject).reason).toMatch(/^15 user\(s\) were not accepted: 25 users are already waiting/);
		expect(journaledHashes().users).toBe(25);
	});
});

describe('400 audiences per ad account', () => {
	function fillAdAccount(): void {
		for (let i = 0; i < MAX_AUDIENCES_PER_ADVERTISER; i++) local.store.createAudience(US, `existing ${i}`);
	}

	function expectHelpfulCapError(run: NodeRun): void {
		const message = run.error?.message ?? '';
		expect(message).toMatch(/limit of 400 custom audiences/);
		expect(message).toMatch(/delete/i);
		expect(message).not.toMatch(/does not know this audience/);
		// TikTok's own words stay in the message.
		expect(message).toMatch(/already has 400 custom audiences, the maximum/);
	}

	it('the 401st create fails with a message that says the ad account is full and what to do', async () => {
		fillAdAccount();
		const create = audienceNode({ resource: 'audience', operation: 'create', advertiserId: locator(US), name: 'one too many' });
		expectHelpfulCapError(await runOne(local, create, [{}]));
		expectHelpfulCapError(
			await runOne(local, audienceNode(addParameters('', { audienceSelection: 'byName', audienceName: 'one too many' })), [{ email: 'a@example.com' }]),
		);
		expectHelpfulCapError(
			await runOne(local, batchNode(syncParameters('', {}, { audienceSelection: 'byName', audienceName: 'one too many' })), [{ email: 'a@example.com' }]),
		);
		expect(local.stats().audiences.filter((audience) => !audience.deleted)).toHaveLength(400);
	});

	it('at the cap, every audience is listed (4 pages) and "reuse by name" finds an old one instead of failing', async () => {
		fillAdAccount();
		const many = await runOne(local, audienceNode({ resource: 'audience', operation: 'getMany', advertiserId: locator(US), returnAll: true }), [{}]);
		expect(many.output()).toHaveLength(400);
		const reused = await runOne(local, audienceNode({ resource: 'audience', operation: 'create', advertiserId: locator(US), name: 'existing 3' }), [{}]);
		expect(reused.output()[0]).toMatchObject({ created: false, name: 'existing 3' });
		// Freeing one slot makes room again.
		const oldest = local.stats().audiences[0].id;
		await runOne(local, audienceNode({ resource: 'audience', operation: 'delete', advertiserId: locator(US), audienceId: locator(oldest) }), [{}]);
		const created = await runOne(local, audienceNode({ resource: 'audience', operation: 'create', advertiserId: locator(US), name: 'fits now' }), [{}]);
		expect(created.output()[0]).toMatchObject({ created: true, name: 'fits now' });
	});
});

describe('audience names over 70 characters', () => {
	const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

	it('are cut to 67 + "..." without splitting a character, and every path finds that one audience again', async () => {
		// The emoji takes UTF-16 positions 66 and 67: a cut at 67 code units would keep half of it.
		const name = 'n8n: ' + 'x'.repeat(61) + '😀' + ' and a long tail after the cut';
		const create = audienceNode({ resource: 'audience', operation: 'create', advertiserId: locator(US), name });
		const first = (await runOne(local, create, [{}])).output()[0];
		const cut = String(first.name);
		expect(cut).not.toMatch(LONE_SURROGATE);
		expect(cut.length).toBeLessThanOrEqual(70);
		expect(cut).toBe('n8n: ' + 'x'.repeat(61) + '...');
		expect((await runOne(local, create, [{}])).output()[0]).toMatchObject({ audienceId: first.audienceId, created: false });

		const byName = { audienceSelection: 'byName', audienceName: name };
		const added = await runOne(local, audienceNode(addParameters('', byName)), [{ email: 'long@example.com' }]);
		expect(syncResults(added.output())[0]).toMatchObject({ status: 'synced', audienceId: first.audienceId });
		const batched = await runOne(local, batchNode(syncParameters('', {}, byName)), [{ email: 'longer@example.com' }]);
		expect(batched.output(0)[0]).toMatchObject({ synced: 1, audienceId: first.audienceId });
		const stored = local.stats().audiences;
		expect(stored).toHaveLength(1);
		expect(stored[0]).toMatchObject({ name: cut, memberCount: 2 });
	});

	it('70 characters are kept, 71 are cut to 67 + "..."', async () => {
		const seventy = 'a'.repeat(70);
		const seventyOne = 'b'.repeat(71);
		const names = [];
		for (const name of [seventy, seventyOne]) {
			const run = await runOne(local, audienceNode({ resource: 'audience', operation: 'create', advertiserId: locator(US), name }), [{}]);
			names.push(run.output()[0].name);
		}
		expect(names).toEqual([seventy, 'b'.repeat(67) + '...']);
		expect(local.stats().audiences.map((audience) => audience.name)).toEqual([seventy, 'b'.repeat(67) + '...']);
	});
});


describe('advice for audience errors', () => {
	const advice = (code: number, message: string) => adviceFor(new TikTokApiError({ message, tiktokMessage: message, code }));

	it('tells "the ad account is full" apart from "this audience is unknown"', () => {
		for (const message of [
			'Parameter error: advertiser 1 already has 400 custom audiences, the maximum. Delete some before creating more.',
			'The number of custom audiences exceeds the limit.',
			'Audience quantity has reached the upper limit',
		]) {
			expect(advice(40002, message)).toMatch(/^This ad account has reached TikTok's limit of 400 custom audiences/);
		}
		for (const message of ['Parameter error: invalid audience ID 17.', 'Audience does not exist']) {
			expect(advice(40002, message)).toMatch(/^TikTok does not know this audience/);
		}
		expect(advice(40100, 'Due to too many requests, requests from App 1 are temporarily restricted.')).toMatch(/rate-limiting/);
	});
});
