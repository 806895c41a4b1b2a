/**
 * Mirror List through n8n-core's WorkflowExecute against the local TikTok API: the audience equals the list after
 * each run, only changes are sent, the safety limit and the empty list fail with the option to change, parts in a
 * Loop Over Items loop, the forget and delete operations, and the memory in Redis when the process is in Redis mode.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import Redis from 'ioredis';
import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData, INodeType, INodeTypeDescription } from 'n8n-workflow';

import { digestHex } from '../../nodes/shared/digest';
import { mirrorFolder, mirrorNameOf } from '../../nodes/shared/mirror';
import { setSharedStateForTests } from '../../nodes/shared/sharedState';
import { TEST_REDIS } from '../harness/engine';
import { accessTokenCredentials, audienceNode, createAudience, locator, US } from '../harness/fixtures';
import { useLocalTikTok } from '../harness/localTikTok';
import { chain, itemsNode, outputOf, registerNodeType, runWorkflow } from '../harness/n8n';
import { deleteKeysUnder, keysUnder } from '../harness/redisKeys';
import { redisHandle } from '../mirror/harness';
import type { TikTokLocal } from '../tiktok-local/server';

let local: TikTokLocal;
useLocalTikTok((started) => (local = started));

const sha = (value: string) => digestHex('sha256', value);
const emails = (count: number, from = 0) => Array.from({ length: count }, (_, i) => ({ email: `person${from + i}@example.com` }));
const membersOf = (list: Array<{ email?: string }>) => list.map((row) => `EMAIL_SHA256:${sha(String(row.email))}`).sort();

beforeEach(async () => {
	// The local API starts its audience IDs over in every test: so must the memory.
	await fs.rm(mirrorFolder(), { recursive: true, force: true });
});

function mirrorParameters(audienceId: string, options: IDataObject = {}, extra: IDataObject = {}): IDataObject {
	return {
		resource: 'user',
		operation: 'mirror',
		advertiserId: locator(US),
		audienceSelection: 'existing',
		audienceId: locator(audienceId),
		matchFields: ['email'],
		options,
		...extra,
	};
}

async function runMirror(parameters: IDataObject, items: IDataObject[], extra: Partial<INode> = {}) {
	const tiktok = audienceNode(parameters, extra);
	const { run } = await runWorkflow({ nodes: [itemsNode(items), tiktok], connections: chain('Items', tiktok.name), credentials: accessTokenCredentials(local) });
	return run;
}

function summaryOf(run: Awaited<ReturnType<typeof runMirror>>): IDataObject {
	if (run.data.resultData.error) throw new Error(`run failed: ${run.data.resultData.error.message}`);
	return outputOf(run, 'TikTok Audience')[0].json.tiktokMirror as IDataObject;
}

const mappingRequests = () => local.stats().byPath['segment/mapping/'] ?? 0;

describe('Mirror List', () => {
	it('three runs of a changing list: the audience equals the list after each, unchanged users are never sent', async () => {
		const audienceId = await createAudience(local, 'n8n: paying customers');
		const runs = [emails(30), [...emails(25), ...emails(10, 100)], [...emails(20, 5), ...emails(10, 100), { email: 'late@example.com' }]];
		const expected = [
			{ firstRun: true, added: 30, removed: 0, unchanged: 0, remembered: 30 },
			{ firstRun: false, added: 10, removed: 5, unchanged: 25, remembered: 35 },
			{ firstRun: false, added: 1, removed: 5, unchanged: 30, remembered: 31 },
		];
		for (const [index, list] of runs.entries()) {
			const before = mappingRequests();
			const run = await runMirror(mirrorParameters(audienceId), list);
			const summary = summaryOf(run);
			expect(summary).toMatchObject({ ...expected[index], listed: list.length, members: list.length, errored: 0, safetyLimitHit: false, lastPart: true });
			expect(local.members(audienceId).sort()).toEqual(membersOf(list));
			// One request per kind of change, none for the unchanged.
			expect(mappingRequests() - before).toBe((expected[index].added > 0 ? 1 : 0) + (expected[index].removed > 0 ? 1 : 0));
			expect(outputOf(run, 'TikTok Audience')).toHaveLength(1);
		}
		// The memory is on disk, under n8n's user folder, and holds no email.
		const folder = join(mirrorFolder(), mirrorNameOf({ baseUrl: local.url, advertiserId: US, audienceId }));
		for (const file of await fs.readdir(folder)) expect((await fs.readFile(join(folder, file))).toString('latin1')).not.toMatch(/example\.com/);
		expect(await fs.readdir(folder)).toEqual(expect.arrayContaining(['about.json', 'snapshot.bin', 'log-1.bin']));
	});

	it('by name: creates the audience on the first mirror and says it was a first run', async () => {
		const parameters = { ...mirrorParameters(''), audienceSelection: 'byName', audienceName: 'n8n: churned' };
		const run = await runMirror(parameters, emails(3));
		const summary = summaryOf(run);
		expect(summary).toMatchObject({ firstRun: true, added: 3 });
		const created = local.stats().audiences.find((audience) => audience.name === 'n8n: churned');
		expect(created?.id).toBe(summary.audienceId);
		expect(run.data.resultData.runData['TikTok Audience'][0].hints?.map((hint) => hint.message).join(' ')).toMatch(/First mirror/);
	});

	it('the safety limit fails the node, naming the option, and sends nothing; Continue On Fail reports it', async () => {
		const audienceId = await createAudience(local, 'guarded');
		await runMirror(mirrorParameters(audienceId), emails(10));
		const before = mappingRequests();
		const run = await runMirror(mirrorParameters(audienceId), emails(3));
		expect(run.data.resultData.error).toMatchObject({ name: 'NodeOperationError' });
		expect(run.data.resultData.error?.message).toMatch(/would remove 7 of 10 remembered members \(70\.0%\), more than "Max Share to Remove \(%\)" allows \(50%\)/);
		expect(mappingRequests()).toBe(before);
		expect(local.memberCount(audienceId)).toBe(10);

		const continued = summaryOf(await runMirror(mirrorParameters(audienceId), emails(3), { onError: 'continueRegularOutput' }));
		expect(continued).toMatchObject({ safetyLimitHit: true, removed: 0, remembered: 10 });
		expect(String(continued.error)).toMatch(/Max Share to Remove/);

		const allowed = summaryOf(await runMirror(mirrorParameters(audienceId, { maxRemovePercent: 80 }), emails(3)));
		expect(allowed).toMatchObject({ removed: 7, remembered: 3 });
		expect(local.members(audienceId).sort()).toEqual(membersOf(emails(3)));
	});

	it('a list without a usable user removes nothing unless "Allow Empty List" is on', async () => {
		const audienceId = await createAudience(local, 'empty?');
		await runMirror(mirrorParameters(audienceId), emails(4));
		const broken = [{ email: '' }, { email: 'not-an-email' }];
		const run = await runMirror(mirrorParameters(audienceId, { maxRemovePercent: 100 }), broken);
		expect(run.data.resultData.error?.message).toMatch(/no usable user/);
		expect(run.data.resultData.error?.description).toMatch(/Allow Empty List/);
		expect(local.memberCount(audienceId)).toBe(4);
		const emptied = summaryOf(await runMirror(mirrorParameters(audienceId, { allowEmptyList: true }), broken));
		expect(emptied).toMatchObject({ removed: 4, remembered: 0, notSynced: 2, notSyncedReasons: { 'email is not a valid address': 1 } });
		expect(local.memberCount(audienceId)).toBe(0);
	});

	it('Dry Run reports the difference and sends and remembers nothing', async () => {
		const audienceId = await createAudience(local, 'dry');
		await runMirror(mirrorParameters(audienceId), emails(10));
		const before = mappingRequests();
		const dry = summaryOf(await runMirror(mirrorParameters(audienceId, { dryRun: true }), [...emails(6), ...emails(2, 50)]));
		expect(dry).toMatchObject({ dryRun: true, added: 2, removed: 4, unchanged: 6, requests: 0 });
		expect(mappingRequests()).toBe(before);
		const real = summaryOf(await runMirror(mirrorParameters(audienceId), [...emails(6), ...emails(2, 50)]));
		expect(real).toMatchObject({ added: 2, removed: 4 });
	});

	it('Output Changed Users: an item per user added (the input item), removed (hashed identifiers) or not synced', async () => {
		const audienceId = await createAudience(local, 'verbose');
		await runMirror(mirrorParameters(audienceId), emails(3));
		const run = await runMirror(mirrorParameters(audienceId, { outputUsers: true, maxRemovePercent: 100 }), [
			{ email: 'person0@example.com', plan: 'pro' },
			{ email: 'new@example.com', plan: 'trial' },
			{ email: 'broken' },
		]);
		const out = outputOf(run, 'TikTok Audience');
		expect(out[0].json.tiktokMirror).toMatchObject({ added: 1, removed: 2, notSynced: 1 });
		const users = out.slice(1).map((item) => ({ ...item.json, pairedItem: item.pairedItem }));
		expect(users).toEqual(
			expect.arrayContaining([
				{ email: 'new@example.com', plan: 'trial', tiktokSync: { advertiserId: US, audienceId, action: 'add', status: 'synced' }, pairedItem: { item: 1 } },
				{
					tiktokSync: { advertiserId: US, audienceId, action: 'remove', status: 'synced', hashedIdentifiers: { EMAIL_SHA256: sha('person1@example.com') } },
					pairedItem: { item: 0 },
				},
				{ email: 'broken', tiktokSync: { advertiserId: US, audienceId, status: 'not_synced', reason: 'email is not a valid address' }, pairedItem: { item: 2 } },
			]),
		);
		expect(users).toHaveLength(4);
	});

	it('a failed request fails the node with TikTok’s reason; the accepted part is remembered and the rest is sent next run', async () => {
		const audienceId = await createAudience(local, 'flaky');
		await runMirror(mirrorParameters(audienceId), emails(5));
		local.injectFault({ pathIncludes: 'segment/mapping', code: 40002, message: 'Parameter error: something', count: 1 });
		const run = await runMirror(mirrorParameters(audienceId), [...emails(3), ...emails(2, 10)]);
		// The removal failed (permanent: the add after it was not even tried).
		expect(run.data.resultData.error?.message).toMatch(/TikTok did not accept 4 change\(s\) of this mirror: .*40002.*The next mirror sends them again/);
		const again = summaryOf(await runMirror(mirrorParameters(audienceId), [...emails(3), ...emails(2, 10)]));
		expect(again).toMatchObject({ added: 2, removed: 2, errored: 0, unconfirmed: 0 });
		expect(local.members(audienceId).sort()).toEqual(membersOf([...emails(3), ...emails(2, 10)]));
	});

	it('two mirrors of one audience at once take turns: the changes go out once', async () => {
		const audienceId = await createAudience(local, 'racing');
		await runMirror(mirrorParameters(audienceId), emails(10));
		const before = local.stats().usersReceived;
		const list = [...emails(8), ...emails(2, 70)];
		const summaries = (await Promise.all([runMirror(mirrorParameters(audienceId), list), runMirror(mirrorParameters(audienceId), list)])).map(summaryOf);
		expect(summaries.map((summary) => Number(summary.added) + Number(summary.removed)).sort()).toEqual([0, 4]);
		expect(local.stats().usersReceived - before).toBe(4);
		expect(local.members(audienceId).sort()).toEqual(membersOf(list));
	});

	it('Forget Mirror Memory: the next mirror is a first run and removes nothing', async () => {
		const audienceId = await createAudience(local, 'forgetful');
		await runMirror(mirrorParameters(audienceId), emails(5));
		const forgot = await runMirror({ resource: 'user', operation: 'forgetMirror', advertiserId: locator(US), audienceId: locator(audienceId) }, [{}]);
		expect(outputOf(forgot, 'TikTok Audience')[0].json).toEqual({ advertiserId: US, audienceId, mirrorMemoryForgotten: true });
		const next = summaryOf(await runMirror(mirrorParameters(audienceId), emails(2)));
		// Everyone in the list is sent again (TikTok already has them: harmless); the three others stay.
		expect(next).toMatchObject({ firstRun: true, removed: 0, added: 2, unchanged: 0, remembered: 2 });
		expect(local.memberCount(audienceId)).toBe(5);
	});

	it('deleting the audience through the node forgets its memory', async () => {
		const audienceId = await createAudience(local, 'doomed');
		await runMirror(mirrorParameters(audienceId), emails(5));
		const folder = join(mirrorFolder(), mirrorNameOf({ baseUrl: local.url, advertiserId: US, audienceId }));
		await expect(fs.stat(folder)).resolves.toBeTruthy();
		await runMirror({ resource: 'audience', operation: 'delete', advertiserId: locator(US), audienceId: locator(audienceId) }, [{}]);
		await expect(fs.stat(folder)).rejects.toMatchObject({ code: 'ENOENT' });
	});

	it('parts in several executions, tied by a Part Key: adds as parts arrive, removes after the last part', async () => {
		const audienceId = await createAudience(local, 'paged');
		await runMirror(mirrorParameters(audienceId), emails(20));
		const pages = [emails(8), [...emails(7, 8), ...emails(3, 200)], emails(2, 15)]; // 17–19 left, 200–202 joined
		const options = { partKey: 'nightly 2026-12-03' };
		const first = summaryOf(await runMirror(mirrorParameters(audienceId, options, { lastPart: false }), pages[0]));
		expect(first).toMatchObject({ lastPart: false, parts: 1, added: 0, removed: 0 });
		const second = summaryOf(await runMirror(mirrorParameters(audienceId, options, { lastPart: false }), pages[1]));
		expect(second).toMatchObject({ parts: 2, added: 3, removed: 0 });
		expect(local.memberCount(audienceId)).toBe(23);
		const last = summaryOf(await runMirror(mirrorParameters(audienceId, options, { lastPart: true }), pages[2]));
		expect(last).toMatchObject({ parts: 3, listed: 20, added: 3, removed: 3, remembered: 20 });
		expect(local.members(audienceId).sort()).toEqual(membersOf(pages.flat()));
		const reused = await runMirror(mirrorParameters(audienceId, options), emails(1));
		expect(reused.data.resultData.error?.message).toMatch(/already got its last part/);
	});
});

/** A stand-in for n8n's Loop Over Items (SplitInBatches v3): done output 0, loop output 1, `noItemsLeft` in its context. */
class LoopOverItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Loop Over Items',
		name: 'splitInBatches',
		group: ['organization'],
		version: 3,
		description: 'Test stand-in',
		defaults: { name: 'Loop Over Items' },
		inputs: ['main'],
		outputs: ['main', 'main'],
		properties: [{ displayName: 'Batch Size', name: 'batchSize', type: 'number', default: 10 }],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const context = this.getContext('node') as { items?: INodeExecutionData[]; processed?: INodeExecutionData[]; noItemsLeft?: boolean };
		const input = this.getInputData();
		if (context.items === undefined) {
			context.items = [...input];
			context.processed = [];
		} else {
			context.processed = [...(context.processed ?? []), ...input];
		}
		const batch = context.items.splice(0, this.getNodeParameter('batchSize', 0) as number);
		context.noItemsLeft = context.items.length === 0;
		return batch.length === 0 ? [context.processed ?? [], []] : [[], batch];
	}
}
registerNodeType('n8n-nodes-base.splitInBatches', () => new LoopOverItems());

describe('Mirror List in a Loop Over Items loop', () => {
	async function runLoop(audienceId: string, list: IDataObject[], extra: IDataObject) {
		const loop: INode = { id: 'loop', name: 'Loop Over Items', type: 'n8n-nodes-base.splitInBatches', typeVersion: 3, position: [100, 0], parameters: { batchSize: 10 } };
		const tiktok = audienceNode(mirrorParameters(audienceId, {}, extra));
		const { run } = await runWorkflow({
			nodes: [itemsNode(list), loop, tiktok],
			connections: {
				Items: { main: [[{ node: 'Loop Over Items', type: 'main', index: 0 }]] },
				'Loop Over Items': { main: [[], [{ node: tiktok.name, type: 'main', index: 0 }]] },
				[tiktok.name]: { main: [[{ node: 'Loop Over Items', type: 'main', index: 0 }]] },
			},
			credentials: accessTokenCredentials(local),
		});
		return run;
	}

	it('with Last Part from the loop: one mirror in batches, removals after the last batch', async () => {
		const audienceId = await createAudience(local, 'looped');
		await runMirror(mirrorParameters(audienceId), emails(30));
		const list = [...emails(22), ...emails(3, 500)]; // 22–29 leave (8 of 30), three join; three batches of ≤ 10
		const run = await runLoop(audienceId, list, { lastPart: "={{ $('Loop Over Items').context.noItemsLeft }}" });
		expect(run.data.resultData.error).toBeUndefined();
		const summaries = run.data.resultData.runData['TikTok Audience'].map((task) => task.data?.main[0]?.[0].json.tiktokMirror as IDataObject);
		expect(summaries.map((summary) => [summary.parts, summary.lastPart, summary.removed])).toEqual([
			[1, false, 0],
			[2, false, 0],
			[3, true, 8],
		]);
		expect(summaries[2]).toMatchObject({ listed: 25, members: 25, added: 3, remembered: 25 });
		expect(local.members(audienceId).sort()).toEqual(membersOf(list));
	});

	it('with Last Part left fixed, the node refuses at the first batch and sends nothing', async () => {
		const audienceId = await createAudience(local, 'looped wrong');
		await runMirror(mirrorParameters(audienceId), emails(30));
		const before = mappingRequests();
		const run = await runLoop(audienceId, emails(25), {});
		expect(run.data.resultData.error?.message).toMatch(/runs inside the loop of "Loop Over Items"/);
		expect(run.data.resultData.error?.description).toMatch(/noItemsLeft/);
		expect(mappingRequests()).toBe(before);
	});
});

describe('Mirror List in Redis mode (queue mode)', () => {
	let prefix: string;
	let cleaner: Redis;
	beforeEach(() => {
		prefix = `tts-mirror-node-${randomUUID().slice(0, 8)}`;
		cleaner = new Redis(TEST_REDIS);
	});
	afterEach(async () => {
		setSharedStateForTests(undefined);
		await deleteKeysUnder(cleaner, prefix);
		await cleaner.quit();
	});

	it('keeps the memory in Redis under the package prefix, not on disk, and a second "worker" continues it', async () => {
		const audienceId = await createAudience(local, 'queued');
		const workers = [redisHandle(prefix), redisHandle(prefix)];
		try {
			const lists = [emails(12), [...emails(10), ...emails(4, 40)], emails(11, 3)];
			for (const [index, list] of lists.entries()) {
				const redis = workers[index % 2];
				setSharedStateForTests({ mode: { kind: 'redis', why: 'test', target: redis.target }, redis, logged: true });
				const summary = summaryOf(await runMirror(mirrorParameters(audienceId), list));
				expect(summary.memory).toMatch(new RegExp(`keys under ${prefix}:`));
				expect(local.members(audienceId).sort()).toEqual(membersOf(list));
			}
			expect((await keysUnder(cleaner, prefix)).some((key) => key.includes('{mirror:'))).toBe(true);
			await expect(fs.stat(mirrorFolder())).rejects.toMatchObject({ code: 'ENOENT' });
		} finally {
			for (const worker of workers) worker.client.disconnect();
		}
	});

	it('a memory Redis lost part of (an evicted key): nothing sent, and the error says how to start over', async () => {
		const audienceId = await createAudience(local, 'evicted');
		const redis = redisHandle(prefix);
		try {
			setSharedStateForTests({ mode: { kind: 'redis', why: 'test', target: redis.target }, redis, logged: true });
			summaryOf(await runMirror(mirrorParameters(audienceId), emails(60_000)));
			// A policy that evicts any key (allkeys-lru) took a segment of the snapshot.
			const segment = (await keysUnder(cleaner, prefix)).find((key) => /\{mirror:[^}]+\}:s:\d+:0$/.test(key));
			expect(segment).toBeDefined();
			await cleaner.del(segment!);
			const before = mappingRequests();
			const run = await runMirror(mirrorParameters(audienceId), emails(60_000));
			expect(run.data.resultData.error).toMatchObject({ name: 'NodeOperationError' });
			expect(run.data.resultData.error?.message).toMatch(/memory of this mirror is damaged/);
			expect(run.data.resultData.error?.description).toMatch(/Forget Mirror Memory/);
			expect(mappingRequests()).toBe(before);
		} finally {
			redis.client.disconnect();
		}
	});

	it('Redis down: a clear error naming Redis and the setting, nothing sent', async () => {
		const audienceId = await createAudience(local, 'no redis');
		const down = redisHandle(prefix);
		const target = { ...down.target, address: '127.0.0.1:1', options: { ...down.target.options, port: 1 } };
		down.client.disconnect();
		const { openRedis } = await import('../../nodes/shared/redis/client');
		const client = openRedis(target);
		try {
			setSharedStateForTests({ mode: { kind: 'redis', why: 'test', target }, redis: { client, target }, logged: true });
			const before = mappingRequests();
			const run = await runMirror(mirrorParameters(audienceId), emails(3));
			expect(run.data.resultData.error?.message).toMatch(/cannot reach Redis at 127\.0\.0\.1:1/);
			expect(mappingRequests()).toBe(before);
		} finally {
			client.disconnect();
		}
	});
});
