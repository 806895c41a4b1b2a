/*
 * The Redis engine with more than one process on one scope, against the real Redis on 127.0.0.1:6379: two
 * RedisSyncCoordinators ("processes") with their own ioredis clients on one key prefix, and the Lua scripts called
 * directly where the interleaving matters (claim races, stale settles). Each test uses its own prefix and deletes
 * exactly its keys afterwards.
 */
import { randomUUID } from 'node:crypto';

import Redis from 'ioredis';

import { TikTokApiError } from '../../nodes/shared/transport/errors';
import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { RedisSyncCoordinator, type SubmitResult, type SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { DEFAULT_LEASE_MS, destinationId, digest } from '../../nodes/TikTokBatchSync/engine/redis/coordinator';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { FakeClock, MINUTE, SECOND, T0 } from '../harness/clock';
import { EMAIL_DESTINATION, FakeTikTok, TEST_REDIS, deleteKeysUnder, emailUsers, keysUnder } from '../harness/engine';
import { scanKeys } from '../harness/redisKeys';

const SCOPE = 'wf-races:Batch Sync';
const TTL = 13 * 3_600_000 + 24 * 3_600_000;
const HORIZON = 13 * 3_600_000;
const DEST = destinationId(EMAIL_DESTINATION);
const DEST_JSON = JSON.stringify({
	advertiserId: EMAIL_DESTINATION.advertiserId,
	audienceId: EMAIL_DESTINATION.audienceId,
	idSchema: EMAIL_DESTINATION.idSchema,
});

const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });
const rateLimited = () =>
	new TikTokApiError({ message: 'Too many requests', tiktokMessage: 'Too many requests', code: 40100, httpStatus: 200 });
const audienceGone = () =>
	new TikTokApiError({ message: 'Audience does not exist', tiktokMessage: 'Audience does not exist', code: 40002 });

type Reply = Array<string | number | null>;
/** The scripts as the coordinator defined them on a client (KEYS[1] = the scope's base, then ARGV). */
interface Scripts {
	tiktokSyncAdmit(base: string, ...args: Array<string | number>): Promise<number[]>;
	tiktokSyncClaim(base: string, now: number, ttl: number, leaseMs: number, token: string, prefix: string, reason: string): Promise<Reply>;
	tiktokSyncSettle(
		base: string,
		now: number,
		ttl: number,
		id: string,
		token: string,
		outcome: 'synced' | 'retry' | 'errored',
		dueAt: number,
		holdUntil: number,
		reason: string,
		reauth: number,
		failures: number,
	): Promise<number>;
	tiktokSyncRenew(base: string, now: number, ttl: number, id: string, token: string, leaseMs: number): Promise<number>;
	tiktokSyncBusy(base: string, now: number, ttl: number): Promise<number[]>;
}
const scriptsOf = (redis: Redis) => redis as unknown as Scripts;

/** One "process": its own client and coordinator, on the shared prefix. */
interface Proc {
	redis: Redis;
	coordinator: RedisSyncCoordinator;
}

const prefixes: string[] = [];
const clients: Redis[] = [];
const coordinators: RedisSyncCoordinator[] = [];
let admin: Redis;

function newPrefix(): string {
	const prefix = `tts-races-${randomUUID().slice(0, 8)}`;
	prefixes.push(prefix);
	return prefix;
}

function newProc(prefix: string, clock: FakeClock, extra: { leaseMs?: number; maxRequestsInFlight?: number } = {}): Proc {
	const redis = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });
	clients.push(redis);
	const coordinator = new RedisSyncCoordinator({
		redis,
		keyPrefix: prefix,
		requestCapacity: MAX_USERS_PER_REQUEST,
		clock,
		random: () => 0.5,
		pollMs: 0,
		...extra,
	});
	coordinators.push(coordinator);
	return { redis, coordinator };
}

/** The clock settles when every given process is idle (or after 500 ms of real time, for a send that hangs). */
function idleHook(clock: FakeClock, procs: Proc[]): void {
	clock.idle = () =>
		Promise.race([
			Promise.all(procs.map((proc) => proc.coordinator.whenIdle())).then((idle) => idle.every(Boolean)),
			new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 500)),
		]);
}

/** Polls (real time) until `check` holds. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 5));
	}
}

function submitVia(proc: Proc, tiktok: FakeTikTok, users: SyncUser[], settings = {}, scope = SCOPE): Promise<SubmitResult> {
	return proc.coordinator.submit({
		scope,
		destination: EMAIL_DESTINATION,
		users,
		send: tiktok.send,
		pacer: ALREADY_PACED,
		waitForDelivery: false,
		settings,
	});
}

/** admit ARGV: now, ttl, windowMs, usersPerRequest, horizonMs, maxPending, dest, destJson, default action, (key, act, row)… */
function admitArgs(now: number, users: SyncUser[], windowMs: number, usersPerRequest: number, maxPending = 1_000_000) {
	const args: Array<string | number> = [now, TTL, windowMs, usersPerRequest, HORIZON, maxPending, DEST, DEST_JSON, 'a'];
	for (const user of users) args.push(user.key, '', user.ids.join('\t'));
	return args;
}

const claim = (redis: Redis, base: string, now: number, token: string, leaseMs = DEFAULT_LEASE_MS) =>
	scriptsOf(redis).tiktokSyncClaim(base, now, TTL, leaseMs, token, 'gave up after 13 h of retries: ', 'no attempt could be made');

/** Every key of the scope with its type and contents, for "nothing changed" comparisons. */
async function snapshot(redis: Redis, prefix: string): Promise<Record<string, unknown>> {
	const out: Record<string, unknown> = {};
	for (const key of (await keysUnder(redis, prefix)).sort()) {
		const type = await redis.type(key);
		if (type === 'hash') out[key] = await redis.hgetall(key);
		else if (type === 'zset') out[key] = await redis.zrange(key, 0, -1, 'WITHSCORES');
		else if (type === 'set') out[key] = (await redis.smembers(key)).sort();
		else out[key] = await redis.get(key);
	}
	return out;
}

beforeAll(async () => {
	admin = new Redis({ ...TEST_REDIS, maxRetriesPerRequest: 1 });
	await admin.ping();
});

afterEach(async () => {
	for (const coordinator of coordinators.splice(0)) {
		coordinator.reset();
		await Promise.race([coordinator.whenIdle(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
	}
	for (const client of clients.splice(0)) client.disconnect();
	for (const prefix of prefixes.splice(0)) await deleteKeysUnder(admin, prefix);
});

afterAll(async () => {
	await admin.quit();
});

describe('Redis engine: two processes on one scope', () => {
	it('users submitted through two processes share one window and go out in one request; both report the same exact counters', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const b = newProc(prefix, clock);
		// The control: the same submissions to two engines that share nothing.
		const independentTikTok = new FakeTikTok(clock);
		const c = newProc(newPrefix(), clock);
		const d = newProc(newPrefix(), clock);
		idleHook(clock, [a, b, c, d]);

		const throughA = emailUsers(30, 0);
		// B brings 30 users of its own and one user A already brought in this window.
		const throughB = [...emailUsers(30, 100), throughA[0]];
		await submitVia(a, tiktok, throughA);
		await submitVia(c, independentTikTok, throughA);
		await clock.advance(SECOND);
		await submitVia(b, tiktok, throughB);
		await submitVia(d, independentTikTok, throughB);
		await clock.advance(4 * SECOND - 1);
		expect(tiktok.calls).toHaveLength(0);

		await clock.advance(1);
		expect(tiktok.calls).toHaveLength(1);
		expect(tiktok.calls[0].at).toBe(T0 + 5 * SECOND);
		// Rows in the order their users first entered, the user both processes brought once.
		expect(tiktok.sentIds()).toEqual([...throughA, ...emailUsers(30, 100)].map((user) => user.key));

		await clock.advance(MINUTE);
		expect(tiktok.calls).toHaveLength(1);
		// Two engines that share nothing send one request each, when each one's own window ends.
		expect(independentTikTok.calls.map((call) => call.at)).toEqual([T0 + 5 * SECOND, T0 + 6 * SECOND]);
		expect(independentTikTok.calls.map((call) => call.request.batchData.length)).toEqual([30, 31]);
		expect(tiktok.calls.length).toBeLessThan(independentTikTok.calls.length);
		const fromA = await a.coordinator.report(SCOPE);
		const fromB = await b.coordinator.report(SCOPE);
		expect(fromA).toEqual(fromB);
		expect(fromA).toEqual({
			entered: 61,
			synced: 61,
			notSynced: 0,
			pending: 0,
			errored: 0,
			added: 61,
			removed: 0,
			notSyncedReasons: {},
			erroredReasons: {},
		});
	});

	it('two clients racing the claim script over 200 chunks: each chunk is claimed exactly once while its lease lives', async () => {
		const clock = new FakeClock();
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const b = newProc(prefix, clock);
		const base = a.coordinator.scopeBase(SCOPE);
		const leaseMs = 60_000;
		// 200 users, one per request, no window: 200 chunks due at once.
		const admitted = await scriptsOf(a.redis).tiktokSyncAdmit(base, ...admitArgs(T0, emailUsers(200), 0, 1));
		expect(admitted.slice(0, 2)).toEqual([200, 1]);
		expect(await admin.zcard(`${base}due`)).toBe(200);

		// Each process fires 16 claims at once, both processes in the same 20 rounds (640 claims for 200 chunks).
		const check = async (now: number) => {
			const claimed: Record<'A' | 'B', Array<{ id: string; token: string }>> = { A: [], B: [] };
			let idle = 0;
			for (let round = 0; round < 20; round++) {
				await Promise.all(
					([['A', a], ['B', b]] as const).map(async ([name, proc]) => {
						const tokens = Array.from({ length: 16 }, () => randomUUID());
						const replies = await Promise.all(tokens.map((token) => claim(proc.redis, base, now, token, leaseMs)));
						replies.forEach((reply, index) => {
							if (reply[0] === 'claimed') claimed[name].push({ id: String(reply[1]), token: tokens[index] });
							else {
								idle++;
								expect(reply).toEqual(['idle', now + leaseMs]);
							}
						});
					}),
				);
			}
			const all = [...claimed.A, ...claimed.B];
			expect(all).toHaveLength(200);
			expect(new Set(all.map((c) => c.id)).size).toBe(200);
			expect(idle).toBe(640 - 200);
			// The chunk holds the token of the one claim that took it, and a lease ending at now + leaseMs.
			for (const { id, token } of all) {
				expect(await admin.hmget(`${base}c:${id}`, 'state', 'token')).toEqual(['sending', token]);
			}
			expect(await admin.zcount(`${base}lease`, now + leaseMs, now + leaseMs)).toBe(200);
			expect(await admin.exists(`${base}due`)).toBe(0);
			return [claimed.A.length, claimed.B.length];
		};

		const first = await check(T0);
		console.log(`claim race, leases live: A took ${first[0]}, B took ${first[1]} of 200`);
		expect(first[0]).toBeGreaterThan(0);
		expect(first[1]).toBeGreaterThan(0);
		// Just before the leases end nothing is claimable.
		expect(await claim(a.redis, base, T0 + leaseMs - 1, randomUUID(), leaseMs)).toEqual(['idle', T0 + leaseMs]);
		// Once they end, every chunk is taken back and claimed exactly once again.
		const second = await check(T0 + leaseMs);
		console.log(`claim race, after the leases ended: A took ${second[0]}, B took ${second[1]} of 200`);
		expect(await admin.hget(`${base}cnt`, 'pending')).toBe('200');
	});

	it('a lease that ends mid-send: the other process delivers, the late settle is ignored (at least once to TikTok, counted once)', async () => {
		const prefix = newPrefix();
		const leaseMs = 10_000;
		// A stalls: its clock stands still (no renewals), its send hangs until released.
		const clockA = new FakeClock();
		const clockB = new FakeClock();
		const tiktok = new FakeTikTok(clockB);
		let release!: () => void;
		const released = new Promise<void>((resolve) => (release = resolve));
		tiktok.fail = (_request, index) => (index === 0 ? released.then(() => undefined) : undefined);
		const a = newProc(prefix, clockA, { leaseMs });
		const b = newProc(prefix, clockB, { leaseMs });
		idleHook(clockB, [b]);
		const settles: Array<{ by: string; token: string; result: number }> = [];
		for (const [name, proc] of [['A', a], ['B', b]] as const) {
			const scripts = scriptsOf(proc.redis);
			const original = scripts.tiktokSyncSettle.bind(proc.redis);
			scripts.tiktokSyncSettle = async (...args) => {
				const result = await original(...args);
				settles.push({ by: name, token: args[4], result });
				return result;
			};
		}
		const base = a.coordinator.scopeBase(SCOPE);
		const users = emailUsers(25);

		await submitVia(a, tiktok, users, { windowMs: 0 });
		await until('A sends', () => tiktok.calls.length === 1);
		const chunkId = `${DEST}:1:a`;
		const tokenA = await admin.hget(`${base}c:${chunkId}`, 'token');
		expect(await admin.zscore(`${base}lease`, chunkId)).toBe(String(T0 + leaseMs));

		// While A's lease lives, no other process may take the chunk.
		expect(await claim(b.redis, base, T0 + leaseMs - 1, 'intruder', leaseMs)).toEqual(['idle', T0 + leaseMs]);

		clockB.setTime(T0 + leaseMs);
		await b.coordinator.flush(SCOPE, { send: tiktok.send, pacer: ALREADY_PACED });
		expect(tiktok.calls).toHaveLength(2);
		expect(settles).toEqual([{ by: 'B', token: expect.any(String), result: 1 }]);
		expect(settles[0].token).not.toBe(tokenA);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 25, synced: 25, pending: 0, added: 25 });

		release();
		await until('A settles', () => settles.length === 2);
		await a.coordinator.whenIdle();
		expect(settles[1]).toEqual({ by: 'A', token: tokenA, result: 0 });
		const counters = await a.coordinator.report(SCOPE);
		expect(counters).toEqual(await b.coordinator.report(SCOPE));
		expect(counters).toMatchObject({ entered: 25, synced: 25, pending: 0, errored: 0, added: 25, removed: 0 });
		// TikTok saw every user twice, in two requests of the same rows.
		expect(tiktok.calls).toHaveLength(2);
		const ids = users.map((user) => user.key);
		expect(tiktok.sentIds()).toEqual([...ids, ...ids]);
		expect(await admin.exists(`${base}c:${chunkId}`)).toBe(0);
		expect(await admin.hget(`${base}done`, chunkId)).toBe('synced');
	});

	it('a live process renews its lease: no other process takes its chunk however long the send takes', async () => {
		const prefix = newPrefix();
		const leaseMs = 10_000;
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		let release!: () => void;
		const released = new Promise<void>((resolve) => (release = resolve));
		tiktok.fail = (_request, index) => (index === 0 ? released.then(() => undefined) : undefined);
		const a = newProc(prefix, clock, { leaseMs });
		const b = newProc(prefix, clock, { leaseMs });
		// Renewals are not awaited by anything the engine tracks: give each timer's round trip real time instead.
		clock.idle = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20));
		const base = a.coordinator.scopeBase(SCOPE);
		const chunkId = `${DEST}:1:a`;

		await submitVia(a, tiktok, emailUsers(25), { windowMs: 0 });
		await until('A sends', () => tiktok.calls.length === 1);
		await clock.advance(3 * leaseMs);
		const leaseEnd = Number(await admin.zscore(`${base}lease`, chunkId));
		expect(leaseEnd).toBeGreaterThan(clock.now());
		expect(leaseEnd).toBeLessThanOrEqual(clock.now() + leaseMs);
		expect(await claim(b.redis, base, clock.now(), 'intruder', leaseMs)).toEqual(['idle', Math.floor(leaseEnd)]); // (a Lua number reply is truncated to an integer)

		release();
		await until('A settles', async () => (await admin.hget(`${base}cnt`, 'synced')) === '25');
		await a.coordinator.whenIdle();
		expect(tiktok.calls).toHaveLength(1);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 25, synced: 25, pending: 0 });
		expect(await admin.exists(`${base}lease`)).toBe(0);
	});

	it('settle with a stale token returns 0 and changes nothing, whatever the outcome it reports', async () => {
		const clock = new FakeClock();
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const b = newProc(prefix, clock);
		const base = a.coordinator.scopeBase(SCOPE);
		const settle = (redis: Redis, id: string, token: string, outcome: 'synced' | 'retry' | 'errored', now = T0 + MINUTE) =>
			scriptsOf(redis).tiktokSyncSettle(base, now, TTL, id, token, outcome, now + 5 * SECOND, outcome === 'retry' ? now + MINUTE : 0, 'TikTok error 50000: System error', 1, 1);

		// A claims a chunk of 3 users (window 1), its lease ends, B takes it over; then a second chunk (window 2) is
		// queued that nobody claims.
		await scriptsOf(a.redis).tiktokSyncAdmit(base, ...admitArgs(T0, emailUsers(3), 0, 3));
		const first = `${DEST}:1:a`;
		const second = `${DEST}:2:a`;
		const claimA = await claim(a.redis, base, T0, 'token-A');
		expect(claimA.slice(0, 2)).toEqual(['claimed', first]);
		const claimB = await claim(b.redis, base, T0 + DEFAULT_LEASE_MS, 'token-B');
		expect(claimB.slice(0, 2)).toEqual(['claimed', first]);
		await scriptsOf(a.redis).tiktokSyncAdmit(base, ...admitArgs(T0 + DEFAULT_LEASE_MS, emailUsers(3, 3), 0, 3));
		expect(await admin.hget(`${base}c:${second}`, 'state')).toBe('queued');

		const before = await snapshot(admin, prefix);
		expect(before[`${base}c:${first}`]).toMatchObject({ state: 'sending', token: 'token-B', users: '3' });
		for (const outcome of ['synced', 'retry', 'errored'] as const) {
			expect(await settle(a.redis, first, 'token-A', outcome)).toBe(0);
			// A chunk nobody claimed has no token; an empty or made-up one settles nothing either.
			expect(await settle(a.redis, second, '', outcome)).toBe(0);
			expect(await settle(a.redis, second, 'token-A', outcome)).toBe(0);
			expect(await settle(a.redis, `${DEST}:9:a`, 'token-A', outcome)).toBe(0);
		}
		// A stale token renews nothing.
		expect(await scriptsOf(a.redis).tiktokSyncRenew(base, T0 + MINUTE, TTL, first, 'token-A', DEFAULT_LEASE_MS)).toBe(0);
		expect(await snapshot(admin, prefix)).toEqual(before);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 6, pending: 6, synced: 0, errored: 0 });

		// The current token settles once; settling again (a duplicate) is stale too.
		expect(await settle(b.redis, first, 'token-B', 'synced')).toBe(1);
		const afterSettle = await snapshot(admin, prefix);
		expect(await settle(b.redis, first, 'token-B', 'synced')).toBe(0);
		expect(await settle(a.redis, first, 'token-A', 'errored')).toBe(0);
		expect(await snapshot(admin, prefix)).toEqual(afterSettle);
		expect(await a.coordinator.report(SCOPE)).toMatchObject({ entered: 6, synced: 3, pending: 3, errored: 0, added: 3 });
	});

	it('Max Pending Users holds across processes while TikTok fails; rejected users are counted nowhere', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		tiktok.fail = () => serverError();
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const b = newProc(prefix, clock);
		idleHook(clock, [a, b]);
		const settings = { maxPendingUsers: 100, usersPerRequest: 10, windowMs: 0 };
		const fromA = emailUsers(90, 0, 'a');
		const fromB = emailUsers(90, 0, 'b');
		// Three calls of 30 users per process, all at once, started alternately.
		const calls = [0, 30, 60].flatMap((start) => [
			{ proc: a, users: fromA.slice(start, start + 30) },
			{ proc: b, users: fromB.slice(start, start + 30) },
		]);
		const results = await Promise.all(calls.map(({ proc, users }) => submitVia(proc, tiktok, users, settings)));
		await clock.settle();
		const admittedKeys = new Set<string>();
		let entered = 0;
		let rejected = 0;
		results.forEach((result, index) => {
			const { users } = calls[index];
			result.outcomes.forEach((outcome, user) => {
				if (outcome.status === 'pending') admittedKeys.add(users[user].key);
				else expect(outcome.status).toBe('rejected');
			});
			entered += result.tallies.entered;
			rejected += result.tallies.rejected;
			if (result.tallies.rejected > 0) expect(result.rejection?.name).toBe('BacklogFullError');
		});
		console.log(`max pending across processes: admitted per call ${results.map((r) => r.tallies.entered).join(', ')}`);
		expect(entered).toBe(100);
		expect(admittedKeys.size).toBe(100);
		expect(rejected).toBe(180 - 100);
		// Every admitted user was tried once (10 requests of 10), no rejected user reached TikTok.
		expect(tiktok.calls).toHaveLength(10);
		expect(tiktok.sentIds().sort()).toEqual([...admittedKeys].sort());
		const expected = { entered: 100, synced: 0, notSynced: 0, pending: 100, errored: 0, added: 0, removed: 0, notSyncedReasons: {}, erroredReasons: {} };
		expect(await a.coordinator.report(SCOPE)).toEqual(expected);
		expect(await b.coordinator.report(SCOPE)).toEqual(expected);

		// TikTok recovers: the backlog drains and both processes may admit again, still counted once.
		tiktok.fail = undefined;
		await clock.advance(5 * SECOND);
		expect(await a.coordinator.report(SCOPE)).toMatchObject({ entered: 100, synced: 100, pending: 0 });
		const again = await submitVia(b, tiktok, fromB.slice(0, 5), settings);
		expect(again.tallies).toMatchObject({ entered: 5, rejected: 0 });
	});
});

describe('Redis engine: keys', () => {
	it('every key is under <prefix>:{s:…}: with a TTL; nothing of the test appears under bull: or n8n:', async () => {
		const others = async () => new Set([...(await scanKeys(admin, 'bull:*')), ...(await scanKeys(admin, 'n8n:*'))]);
		const before = await others();
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const b = newProc(prefix, clock);
		idleHook(clock, [a, b]);
		const base = a.coordinator.scopeBase(SCOPE);
		const checkpoints: string[] = [];
		const checkKeys = async (label: string) => {
			const keys = await keysUnder(admin, prefix);
			expect(keys.length).toBeGreaterThan(0);
			const withoutTtl: string[] = [];
			for (const key of keys) {
				expect(key.startsWith(`${prefix}:{s:`)).toBe(true);
				expect(key.startsWith(base)).toBe(true);
				const pttl = await admin.pttl(key);
				if (!(pttl > 0)) withoutTtl.push(`${key.slice(base.length)} (${pttl})`);
			}
			expect({ label, withoutTtl }).toEqual({ label, withoutTtl: [] });
			checkpoints.push(label);
		};

		// A journal of the in-process engine moves in (mig:), with users refused by the node (rns).
		const local = newTikTokCoordinator({ clock, random: () => 0.5 });
		const failing = new FakeTikTok(clock);
		failing.fail = () => serverError();
		await local.submit({ scope: SCOPE, destination: EMAIL_DESTINATION, users: emailUsers(4, 500), send: failing.send, pacer: ALREADY_PACED, waitForDelivery: false });
		await clock.advance(5 * SECOND);
		const journal = JSON.parse(JSON.stringify(local.exportJournal(SCOPE)));
		local.reset();
		expect(await a.coordinator.importJournal(SCOPE, journal, tiktok.send, ALREADY_PACED)).toEqual({ restoredUsers: 4 });
		await submitVia(b, tiktok, emailUsers(3), {});
		await b.coordinator.submit({
			scope: SCOPE,
			destination: EMAIL_DESTINATION,
			users: [],
			notSyncedReasons: ['invalid email', 'invalid email'],
			send: tiktok.send,
			pacer: ALREADY_PACED,
			waitForDelivery: false,
		});
		await clock.settle();
		await checkKeys('after import and admit');

		// A rate-limit error (hold), then a permanent error (rer), adds and removes of two windows (uns:…:a / :d).
		tiktok.fail = (_request, index) => (index === 1 ? rateLimited() : index === 3 ? audienceGone() : undefined);
		await clock.advance(5 * SECOND);
		await checkKeys('after the first window');
		await submitVia(a, tiktok, emailUsers(2, 10).map((user) => ({ ...user, action: 'delete' as const })));
		await clock.advance(2 * MINUTE);
		await checkKeys('after the rate-limit pause');
		await a.coordinator.flush(SCOPE);
		await clock.advance(10 * MINUTE);
		await checkKeys('after the run');
		const counters = await a.coordinator.report(SCOPE);
		expect(counters.entered).toBe(counters.synced + counters.notSynced + counters.pending + counters.errored);
		expect(counters).toEqual({
			entered: 11,
			synced: 7,
			notSynced: 2,
			pending: 0,
			errored: 2,
			added: 7,
			removed: 0,
			notSyncedReasons: { 'invalid email': 2 },
			erroredReasons: { 'TikTok error 40002: Audience does not exist': 2 },
		});
		// The journal's 4 at once; B's window (rate-limited, then after the 60 s pause); the removes held behind it.
		expect(tiktok.calls.map((call) => [call.request.action, call.request.batchData.length, call.at - T0])).toEqual([
			['add', 4, 5 * SECOND],
			['add', 3, 10 * SECOND],
			['add', 3, 70 * SECOND],
			['delete', 2, 70 * SECOND],
		]);

		// The scope's digest appears only under the prefix, and nothing of this test under bull: or n8n:.
		const digestKeys = new Set(await scanKeys(admin, `*${digest(SCOPE)}*`));
		expect([...digestKeys].filter((key) => !key.startsWith(`${prefix}:`))).toEqual([]);
		const created = [...(await others())].filter((key) => !before.has(key));
		expect(created.filter((key) => key.includes(prefix) || key.includes(digest(SCOPE)) || key.includes('tts-races'))).toEqual([]);
		expect(checkpoints).toHaveLength(4);
	});

	// Found by this test: cut() once created `due` without an expiry when the claim that cut the window could send
	// nothing (the remove held behind the add in flight); had the processes stopped then, `due` would have stayed
	// in Redis for ever.
	it('a window cut by a claim that cannot send it at once (an earlier request of the other action is in flight) still gives `due` a TTL', async () => {
		const clock = new FakeClock();
		const prefix = newPrefix();
		const a = newProc(prefix, clock);
		const base = a.coordinator.scopeBase(SCOPE);
		const scripts = scriptsOf(a.redis);
		// Window 1: an add, cut at once (one user per request) and claimed: `due` is empty (gone) while it is sent.
		await scripts.tiktokSyncAdmit(base, ...admitArgs(T0, emailUsers(1), 0, 1));
		expect((await claim(a.redis, base, T0, 'token-A')).slice(0, 2)).toEqual(['claimed', `${DEST}:1:a`]);
		expect(await admin.exists(`${base}due`)).toBe(0);
		// Window 2: a remove, in a 5 s window; the claim that cuts it must hold it behind window 1's add.
		const removeArgs = admitArgs(T0, emailUsers(1, 50), 5_000, 10);
		removeArgs[8] = 'd';
		await scripts.tiktokSyncAdmit(base, ...removeArgs);
		expect(await claim(a.redis, base, T0 + 5_000, 'token-B')).toEqual(['idle', T0 + DEFAULT_LEASE_MS]);
		expect(await admin.zrange(`${base}due`, 0, -1)).toEqual([`${DEST}:2:d`]);
		// Every other key it wrote expires; this one does not.
		expect(await admin.pttl(`${base}c:${DEST}:2:d`)).toBeGreaterThan(0);
		expect(await admin.pttl(`${base}due`)).toBeGreaterThan(0);
	});
});
