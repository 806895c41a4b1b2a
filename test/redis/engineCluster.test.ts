/*
 * The Redis engine (RedisSyncCoordinator and its Lua scripts) on a real 3-node Redis Cluster
 * (test/harness/redisCluster.ts, throwaway, on loopback): every script touches only keys under its scope's
 * `{s:…}` hash tag, so it runs on the node that owns that slot, with no CROSSSLOT or non-local key error.
 */
import { Cluster } from 'ioredis';

import { TikTokApiError } from '../../nodes/shared/transport/errors';
import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { RedisSyncCoordinator, type Destination, type SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { Activity } from '../../nodes/TikTokBatchSync/engine/activity';
import { destinationDigest, RedisStore, type ScriptCaller } from '../../nodes/TikTokBatchSync/engine/redis/store';
import { defaultSyncSettings } from '../../nodes/TikTokBatchSync/engine/settings';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { FakeClock, MINUTE, SECOND, T0 } from '../harness/clock';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers, idleWithin } from '../harness/engine';
import { keysUnder } from '../harness/redisKeys';
import { startRedisCluster, type RedisClusterHandle } from '../harness/redisCluster';

const PREFIX = 'tts-cluster-test';

const PHONE_DESTINATION: Destination = {
	advertiserId: 'adv-2',
	audienceId: 'aud-9',
	action: 'add',
	idSchema: ['PHONE_SHA256', 'EMAIL_SHA256'],
};

const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });

let cluster: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
	const started = Date.now();
	cluster = await startRedisCluster();
	client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
	await client.ping();
	console.log(`cluster up in ${Date.now() - started} ms on ports ${cluster.nodes.map((n) => n.port).join(', ')}`);
});

afterAll(async () => {
	client?.disconnect();
	await cluster?.stop();
});

/** Every key under the prefix, on every master, with the port of the node holding it. */
async function clusterKeys(): Promise<Array<{ key: string; port: number }>> {
	const out: Array<{ key: string; port: number }> = [];
	for (const node of client.nodes('master')) {
		for (const key of await keysUnder(node, PREFIX)) out.push({ key, port: node.options.port as number });
	}
	return out;
}

function phoneUsers(count: number, from = 0): SyncUser[] {
	return emailUsers(count, from, 'p').map((user) => ({ ...user, ids: [user.key, undefined] }));
}

describe('Redis engine on Redis Cluster', () => {
	it('runs a scope end to end: two audiences, shared windows, a failure and its retry, a flush, exact counts', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		const coordinator = new RedisSyncCoordinator({
			redis: client,
			keyPrefix: PREFIX,
			requestCapacity: MAX_USERS_PER_REQUEST,
			clock,
			random: () => 0.5,
			watch: false,
		});
		clock.idle = idleWithin([coordinator]);
		const scope = 'wf-cluster:Batch Sync';
		const phoneAudience = destinationDigest(PHONE_DESTINATION);
		// The phone audience's first request fails (retryable), its retry goes through.
		let phoneCalls = 0;
		tiktok.fail = (request) => (request.advertiserIds[0] === 'adv-2' && phoneCalls++ === 0 ? serverError() : undefined);
		const submit = (destination: Destination, users: SyncUser[], waitForDelivery = false, notSyncedReasons?: string[]) =>
			coordinator.submit({ scope, destination, users, send: tiktok.send, pacer: ALREADY_PACED, waitForDelivery, notSyncedReasons });

		// A journal of the in-process engine moves in (import): 2 users, sent at once.
		const local = newTikTokCoordinator({ clock, random: () => 0.5 });
		const down = new FakeTikTok(clock);
		down.fail = () => serverError();
		await local.submit({ scope, destination: EMAIL_DESTINATION, users: emailUsers(2, 900), send: down.send, pacer: ALREADY_PACED, waitForDelivery: false });
		const journal = JSON.parse(JSON.stringify(local.exportJournal(scope)));
		local.reset();
		expect(await coordinator.importJournal(scope, journal, tiktok.send, ALREADY_PACED)).toEqual({ restoredUsers: 2 });
		await clock.settle();

		await submit(EMAIL_DESTINATION, emailUsers(3), false, ['invalid email']);
		await submit(PHONE_DESTINATION, phoneUsers(2));
		await clock.advance(2 * SECOND);
		const waiting = submit(EMAIL_DESTINATION, emailUsers(2, 3), true);
		await submit(PHONE_DESTINATION, [{ ...phoneUsers(1, 5)[0], action: 'delete' }]);
		await clock.advance(3 * SECOND);
		const waited = await waiting;
		expect(waited.outcomes).toEqual([{ status: 'synced' }, { status: 'synced' }]);
		expect(await coordinator.report(scope)).toMatchObject({ entered: 11, synced: 8, pending: 2, notSynced: 1 });

		await clock.advance(5 * SECOND);
		expect(await coordinator.report(scope)).toMatchObject({ synced: 10, pending: 0 });

		// Users gathered in a new window go out at the flush, not at the window's end.
		await clock.advance(10 * SECOND);
		await submit(EMAIL_DESTINATION, emailUsers(4, 10));
		await submit(PHONE_DESTINATION, phoneUsers(1, 10));
		await coordinator.flush(scope);
		const flushedAt = clock.now() - T0;
		expect(flushedAt).toBe(20 * SECOND);
		await clock.advance(MINUTE);

		const calls = tiktok.calls.map((call) => ({
			at: call.at - T0,
			advertiser: call.request.advertiserIds[0],
			action: call.request.action,
			rows: call.request.batchData.length,
		}));
		const sorted = [...calls].sort((x, y) => x.at - y.at || x.advertiser.localeCompare(y.advertiser) || x.action.localeCompare(y.action));
		expect(sorted).toEqual([
			{ at: 0, advertiser: 'adv-1', action: 'add', rows: 2 },
			{ at: 5 * SECOND, advertiser: 'adv-1', action: 'add', rows: 5 },
			{ at: 5 * SECOND, advertiser: 'adv-2', action: 'add', rows: 2 },
			{ at: 5 * SECOND, advertiser: 'adv-2', action: 'delete', rows: 1 },
			{ at: 10 * SECOND, advertiser: 'adv-2', action: 'add', rows: 2 },
			{ at: 20 * SECOND, advertiser: 'adv-1', action: 'add', rows: 4 },
			{ at: 20 * SECOND, advertiser: 'adv-2', action: 'add', rows: 1 },
		]);
		expect(await coordinator.report(scope)).toEqual({
			entered: 16,
			synced: 15,
			notSynced: 1,
			pending: 0,
			errored: 0,
			added: 14,
			removed: 1,
			notSyncedReasons: { 'invalid email': 1 },
			erroredReasons: {},
		});

		// All of the scope's keys in one slot, on one node, each with a TTL.
		const base = coordinator.scopeBase(scope);
		const keys = await clusterKeys();
		expect(keys.length).toBeGreaterThan(5);
		expect(keys.every(({ key }) => key.startsWith(base))).toBe(true);
		const slots = new Set(await Promise.all(keys.map(({ key }) => client.cluster('KEYSLOT', key))));
		expect(slots.size).toBe(1);
		expect(new Set(keys.map(({ port }) => port)).size).toBe(1);
		const withoutTtl = [];
		for (const { key } of keys) if (!((await client.pttl(key)) > 0)) withoutTtl.push(key);
		expect(withoutTtl).toEqual([]);
		expect(await client.hget(`${base}dests`, phoneAudience)).toBe(
			JSON.stringify({ advertiserId: 'adv-2', audienceId: 'aud-9', idSchema: ['PHONE_SHA256', 'EMAIL_SHA256'] }),
		);
		coordinator.reset();
		await coordinator.whenIdle();
	});

	it('every script runs on the node of its scope, whatever slot the scope hashes to', async () => {
		const clock = new FakeClock();
		const coordinator = new RedisSyncCoordinator({ redis: client, keyPrefix: PREFIX, requestCapacity: MAX_USERS_PER_REQUEST, clock, watch: false });
		const settings = { ...defaultSyncSettings(MAX_USERS_PER_REQUEST), windowMs: 0, usersPerRequest: 1 };
		const terms = { leaseMs: 30_000, sendBudgetMs: 15_000 };
		const ports = new Set<number>();
		// Scopes spread over the three nodes' slots (slot ranges are fixed by `--cluster create`, so which node owns
		// which of these scopes is the same at every run).
		for (let n = 0; n < 12; n++) {
			const base = coordinator.scopeBase(`wf-${n}:Batch Sync`);
			const store = new RedisStore(client, client as unknown as ScriptCaller, base, new Activity());
			const now = T0;
			await store.recordNotSynced(['invalid email'], now, settings);
			const placement = store.placement(emailUsers(2, n * 10), EMAIL_DESTINATION);
			expect(await store.admit(placement, 0, settings, now)).toMatchObject({ admitted: 2, full: false });
			const claim = (await store.claim(now, settings, terms, 1)).claim!;
			expect(claim.batch.rows).toBe(1);
			expect(await store.renew(claim, now + 10_000, terms)).toBe(true);
			expect(await store.busy(now)).toBe(true);
			await store.settle(claim, { kind: 'retry', dueAt: now + 5_000, reason: 'TikTok error 40105', reauthorize: true }, now);
			await store.probe(now);
			expect(await store.attempted(placement, now)).toBe(false);
			const second = (await store.claim(now, settings, terms, 1)).claim!;
			await store.handBack(second, now);
			await store.cut(now);
			expect((await store.report()).entered).toBe(3);
			expect(await store.run('tiktokSyncImport', `w-${n}:1`, now, 0, '{"synced":1}', 0)).toBe(1);
			const slot = (await client.cluster('KEYSLOT', `${base}cnt`)) as number;
			for (const node of client.nodes('master')) {
				if (((await node.cluster('COUNTKEYSINSLOT', slot)) as number) > 0) ports.add(node.options.port as number);
			}
		}
		expect(ports.size).toBe(3);
		coordinator.reset();
	});
});
