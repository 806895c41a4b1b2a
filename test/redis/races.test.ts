/*
 * The Redis engine with more than one process on one scope, against the real Redis on 127.0.0.1:6379: two
 * RedisSyncCoordinators ("processes") with their own ioredis clients on one key prefix, and the store's verbs (Lua
 * scripts) called directly where the interleaving matters (claim races, stale settles). Each test uses its own prefix
 * and deletes exactly its keys afterwards.
 */
import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { SendMapping, SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { DEFAULT_LEASE_MS, FENCE_MARGIN_MS, KEY_MARGIN_MS, paceBudgetMs, sendBudgetMs } from '../../nodes/TikTokBatchSync/engine/limits';
import { defaultSyncSettings, type SyncSettings } from '../../nodes/TikTokBatchSync/engine/settings';
import { STEPS } from '../../nodes/TikTokBatchSync/engine/redis/scripts/claim';
import type { RedisClaim, RedisPlacement, RedisStore } from '../../nodes/TikTokBatchSync/engine/redis/store';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { FakeClock, HOUR, MINUTE, SECOND, T0 } from '../harness/clock';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers } from '../harness/engine';
import { ProcessGroup, idleHook, snapshot, submitVia, until, type Proc } from '../harness/redisProcs';

const SCOPE = 'wf-races:Batch Sync';
const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });

const group = new ProcessGroup();
afterEach(() => group.dispose());
afterAll(() => group.close());

const terms = (leaseMs = DEFAULT_LEASE_MS) => ({ leaseMs, sendBudgetMs: sendBudgetMs(leaseMs) });
const settingsOf = (extra: Partial<SyncSettings> = {}): SyncSettings => ({ ...defaultSyncSettings(10_000), ...extra });

/** Admits users through a store (one admit script call per 10,000). */
async function admit(store: RedisStore, users: SyncUser[], now: number, settings: SyncSettings): Promise<RedisPlacement> {
	const placement = store.placement(users, EMAIL_DESTINATION);
	for (let from = 0; from < users.length; ) from += (await store.admit(placement, from, settings, now)).admitted;
	return placement;
}

type Settle = (base: string, token: string, now: number, member: string, outcome: string, dueAt: number, hold: number, reason: string, reauth: number, horizon: number) => Promise<number>;
const settleScript = (proc: Proc) => (proc.redis as unknown as { tiktokSyncSettle: Settle }).tiktokSyncSettle.bind(proc.redis);

describe('Redis engine: two processes on one scope', () => {
	it('users submitted through two processes share one window and go out in one request; both report the same exact counters', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, clock);
		const b = group.newProc(prefix, clock);
		// The control: the same submissions to two engines that share nothing.
		const independentTikTok = new FakeTikTok(clock);
		const c = group.newProc(group.newPrefix('races'), clock);
		const d = group.newProc(group.newPrefix('races'), clock);
		idleHook(clock, [a, b, c, d]);

		const throughA = emailUsers(30, 0);
		// B brings 30 users of its own and one user A already brought in this window.
		const throughB = [...emailUsers(30, 100), throughA[0]];
		await submitVia(a, tiktok, throughA, SCOPE);
		await submitVia(c, independentTikTok, throughA, SCOPE);
		await clock.advance(SECOND);
		await submitVia(b, tiktok, throughB, SCOPE);
		await submitVia(d, independentTikTok, throughB, SCOPE);
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

	it('two clients racing claims over 200 requests: each is claimed exactly once while its lease lives, and once again after', async () => {
		const clock = new FakeClock();
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, clock);
		const b = group.newProc(prefix, clock);
		const storeA = group.storeOf(a, SCOPE);
		const storeB = group.storeOf(b, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const leaseMs = 60_000;
		const settings = settingsOf({ windowMs: 0, usersPerRequest: 1 });
		// 200 users, one per request, no window: 200 windows due at once.
		await admit(storeA, emailUsers(200), T0, settings);
		expect(await group.admin.zcard(`${base}due`)).toBe(200);

		// Each process fires 16 claims at once, both processes in the same 20 rounds (640 claims for 200 requests).
		const race = async (now: number) => {
			const claimed: Record<'A' | 'B', RedisClaim[]> = { A: [], B: [] };
			let idle = 0;
			for (let round = 0; round < 20; round++) {
				await Promise.all(
					([['A', storeA], ['B', storeB]] as const).map(async ([name, store]) => {
						const replies = await Promise.all(Array.from({ length: 16 }, () => store.claim(now, settings, terms(leaseMs), 1)));
						for (const reply of replies) {
							if (reply.claim) claimed[name].push(reply.claim);
							else idle++;
						}
					}),
				);
			}
			const all = [...claimed.A, ...claimed.B];
			expect(all).toHaveLength(200);
			expect(new Set(all.map((claim) => claim.member)).size).toBe(200);
			expect(new Set(all.flatMap((claim) => claim.batch.columns[0])).size).toBe(200);
			expect(idle).toBe(640 - 200);
			// Each part holds the token of the one claim that took it, and a lease ending at now + leaseMs.
			for (const { member, token } of all) {
				expect(await group.admin.hmget(`${base}c:${member.slice(0, 15)}`, 'a.st', 'a.tk')).toEqual(['sending', token]);
			}
			expect(await group.admin.zcount(`${base}lease`, now + leaseMs, now + leaseMs)).toBe(200);
			expect(await group.admin.zcard(`${base}due`)).toBe(0);
			return [claimed.A.length, claimed.B.length];
		};

		const first = await race(T0);
		console.log(`claim race, leases live: A took ${first[0]}, B took ${first[1]} of 200`);
		expect(first[0]).toBeGreaterThan(0);
		expect(first[1]).toBeGreaterThan(0);
		// Just before the leases end nothing is claimable, and the claim says when to look again.
		expect(await storeB.claim(T0 + leaseMs - 1, settings, terms(leaseMs), 1)).toEqual({ nextAt: T0 + leaseMs, changed: false });
		// Once they end, every request is taken back (over 10 claims: each takes back at most 20) and claimed exactly
		// once again.
		const second = await race(T0 + leaseMs);
		console.log(`claim race, after the leases ended: A took ${second[0]}, B took ${second[1]} of 200`);
		expect(await group.admin.hget(`${base}cnt`, 'pending')).toBe('200');
	});

	it(`one claim takes back at most ${STEPS} lapsed leases (bounded work on n8n's Redis); the next claims take back the rest`, async () => {
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, new FakeClock());
		const store = group.storeOf(a, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const leaseMs = 60_000;
		const settings = settingsOf({ windowMs: 0, usersPerRequest: 1 });
		const held = 2 * STEPS + 5;
		await admit(store, emailUsers(held), T0, settings);
		for (let n = 0; n < held; n++) expect((await store.claim(T0, settings, terms(leaseMs), 1)).claim).toBeDefined();
		const lapsed = () => group.admin.zcount(`${base}lease`, '-inf', T0 + leaseMs);
		expect(await lapsed()).toBe(held);
		// Every lease has lapsed: each claim takes back at most STEPS of them (and leases the first again).
		const later = T0 + leaseMs + 1;
		expect((await store.claim(later, settings, terms(leaseMs), 1)).claim).toBeDefined();
		expect(await lapsed()).toBe(held - STEPS);
		expect((await store.claim(later, settings, terms(leaseMs), 1)).claim).toBeDefined();
		expect(await lapsed()).toBe(held - 2 * STEPS);
		expect((await store.claim(later, settings, terms(leaseMs), 1)).claim).toBeDefined();
		expect(await lapsed()).toBe(0);
		expect(await group.admin.zcard(`${base}due`)).toBe(held - 3);
	});

	it(`one claim moves at most ${STEPS} retries that came due; the next claims move the rest`, async () => {
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, new FakeClock());
		const store = group.storeOf(a, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const settings = settingsOf({ windowMs: 0, usersPerRequest: 1 });
		const waiting = 2 * STEPS + 5;
		await admit(store, emailUsers(waiting), T0, settings);
		for (let n = 0; n < waiting; n++) {
			const { claim } = await store.claim(T0, settings, terms(), 1);
			await store.settle(claim as RedisClaim, { kind: 'retry', dueAt: T0 + SECOND, reason: 'System error', reauthorize: false }, T0);
		}
		expect(await group.admin.zcard(`${base}retry`)).toBe(waiting);
		for (const left of [waiting - STEPS, waiting - 2 * STEPS, 0]) {
			expect((await store.claim(T0 + SECOND, settings, terms(), 1)).claim).toBeDefined();
			expect(await group.admin.zcard(`${base}retry`)).toBe(left);
		}
	});

	it('a lease that ends mid-send: the other process delivers, the late settle is ignored (at least once to TikTok, counted once)', async () => {
		const prefix = group.newPrefix('races');
		const leaseMs = 10_000;
		// A stalls: its clock stands still (no renewals), its send hangs until released.
		const clockA = new FakeClock();
		const clockB = new FakeClock();
		const tiktok = new FakeTikTok(clockB);
		let release!: () => void;
		const released = new Promise<void>((resolve) => (release = resolve));
		tiktok.fail = (_request, index) => (index === 0 ? released.then(() => undefined) : undefined);
		const a = group.newProc(prefix, clockA, { leaseMs });
		const b = group.newProc(prefix, clockB, { leaseMs });
		idleHook(clockB, [b]);
		const settles: Array<{ by: string; token: string; result: number }> = [];
		for (const [name, proc] of [['A', a], ['B', b]] as const) {
			const scripts = proc.redis as unknown as { tiktokSyncSettle: Settle };
			const original = scripts.tiktokSyncSettle.bind(proc.redis);
			scripts.tiktokSyncSettle = async (...args) => {
				const result = await original(...args);
				settles.push({ by: name, token: args[1], result });
				return result;
			};
		}
		const base = a.coordinator.scopeBase(SCOPE);
		const users = emailUsers(25);

		await submitVia(a, tiktok, users, SCOPE, { windowMs: 0 });
		await until('A sends', () => tiktok.calls.length === 1);
		const [member] = await group.admin.zrange(`${base}lease`, 0, -1);
		const id = member.slice(0, 15);
		const tokenA = await group.admin.hget(`${base}c:${id}`, 'a.tk');
		expect(await group.admin.zscore(`${base}lease`, member)).toBe(String(T0 + leaseMs));

		// While A's lease lives, no other process may take the request.
		expect(await group.storeOf(b, SCOPE).claim(T0 + leaseMs - 1, settingsOf(), terms(leaseMs), 1)).toEqual({ nextAt: T0 + leaseMs, changed: false });

		clockB.setTime(T0 + leaseMs);
		await b.coordinator.flush(SCOPE, { send: tiktok.send, pacer: ALREADY_PACED });
		expect(tiktok.calls).toHaveLength(2);
		expect(settles).toEqual([{ by: 'B', token: expect.any(String), result: 1 }]);
		expect(settles[0].token).not.toBe(tokenA);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 25, synced: 25, pending: 0, added: 25 });
		// Taken over: until A's copy can no longer arrive (its lease's end + its send budget + the margin) the request
		// keeps holding back its audience's removes.
		const staleUntil = T0 + leaseMs + sendBudgetMs(leaseMs) + FENCE_MARGIN_MS;
		expect(await group.admin.hmget(`${base}c:${id}`, 'a.st', 'a.su', 'a.o')).toEqual(['fenced', String(staleUntil), 'synced']);
		expect(await group.admin.zscore(`${base}fence`, member)).toBe(String(staleUntil));

		release();
		await until('A settles', () => settles.length === 2);
		await a.coordinator.whenIdle();
		expect(settles[1]).toEqual({ by: 'A', token: tokenA, result: 0 });
		const counters = await a.coordinator.report(SCOPE);
		expect(counters).toEqual(await b.coordinator.report(SCOPE));
		expect(counters).toMatchObject({ entered: 25, synced: 25, pending: 0, errored: 0, added: 25, removed: 0 });
		// TikTok saw every user twice, in two requests of the same rows.
		const ids = users.map((user) => user.key);
		expect(tiktok.sentIds()).toEqual([...ids, ...ids]);
		// Once the fence passes, the window's rows go; its outcome stays readable a while for waiting runs.
		clockB.setTime(staleUntil);
		await b.coordinator.flush(SCOPE);
		expect(await group.admin.exists(`${base}r:${id}`)).toBe(0);
		expect(await group.admin.hmget(`${base}c:${id}`, 'a.st', 'a.o')).toEqual(['done', 'synced']);
		expect(await group.admin.exists(`${base}fence`)).toBe(0);
	});

	it('a live process renews its lease: no other process takes its request however long the send takes', async () => {
		const prefix = group.newPrefix('races');
		const leaseMs = 10_000;
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		let release!: () => void;
		const released = new Promise<void>((resolve) => (release = resolve));
		tiktok.fail = (_request, index) => (index === 0 ? released.then(() => undefined) : undefined);
		// No send budget here: the engine aborts a send TikTok does not answer within half the lease.
		const a = group.newProc(prefix, clock, { leaseMs });
		const b = group.newProc(prefix, clock, { leaseMs });
		// Renewals are not awaited by anything the engine tracks: give each timer's round trip real time instead.
		clock.idle = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20));
		const base = a.coordinator.scopeBase(SCOPE);

		await submitVia(a, tiktok, emailUsers(25), SCOPE, { windowMs: 0 });
		await until('A sends', () => tiktok.calls.length === 1);
		const [member] = await group.admin.zrange(`${base}lease`, 0, -1);
		// Renewed every third of the lease; TikTok answers just before the send budget (half the lease) runs out.
		await clock.advance(sendBudgetMs(leaseMs) - 1);
		const storedLeaseEnd = async () => Number(await group.admin.zscore(`${base}lease`, member));
		// (the renewal's round trip may still be on its way when the clock stops: wait for it, not for a fixed time)
		await until('A renews its lease', async () => (await storedLeaseEnd()) > T0 + leaseMs);
		const leaseEnd = await storedLeaseEnd();
		expect(leaseEnd).toBeLessThanOrEqual(clock.now() + leaseMs);
		expect(await group.storeOf(b, SCOPE).claim(clock.now(), settingsOf(), terms(leaseMs), 1)).toEqual({ nextAt: leaseEnd, changed: false });

		release();
		await until('A settles', async () => (await group.admin.hget(`${base}cnt`, 'synced')) === '25');
		await a.coordinator.whenIdle();
		expect(tiktok.calls).toHaveLength(1);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 25, synced: 25, pending: 0 });
		expect(await group.admin.exists(`${base}lease`)).toBe(0);
	});

	it('a send TikTok does not answer is aborted at half the lease (well before it lapses) and waits for its retry', async () => {
		const prefix = group.newPrefix('races');
		const leaseMs = 10_000;
		const clock = new FakeClock();
		clock.idle = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20));
		const a = group.newProc(prefix, clock, { leaseMs });
		const base = a.coordinator.scopeBase(SCOPE);
		let signal: AbortSignal | undefined;
		const silent: SendMapping = (_batch, options) =>
			new Promise((_resolve, reject) => {
				signal = options?.signal;
				signal?.addEventListener('abort', () => reject(new Error('aborted')));
			});
		await a.coordinator.submit({ scope: SCOPE, destination: EMAIL_DESTINATION, users: emailUsers(3), send: silent, pacer: ALREADY_PACED, waitForDelivery: false, settings: { windowMs: 0 } });
		await until('A sends', () => signal !== undefined);
		const [member] = await group.admin.zrange(`${base}lease`, 0, -1);
		await clock.advance(sendBudgetMs(leaseMs) - 1);
		expect(signal?.aborted).toBe(false);
		await clock.advance(1);
		await until('the retry is scheduled', async () => (await group.admin.zcard(`${base}retry`)) === 1);
		expect(signal?.aborted).toBe(true);
		expect(await group.admin.hmget(`${base}c:${member.slice(0, 15)}`, 'a.st', 'a.f', 'a.le')).toEqual(['waiting', '1', 'TikTok did not answer within 5 s']);
		expect(await group.admin.zcard(`${base}lease`)).toBe(0);
	});

	it('a request that gets no pacer slot within a quarter of the lease goes back (no failure counted) and is claimed again', async () => {
		const prefix = group.newPrefix('races');
		const leaseMs = 10_000;
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		clock.idle = () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20));
		const a = group.newProc(prefix, clock, { leaseMs });
		const base = a.coordinator.scopeBase(SCOPE);
		const noSlot = { acquire: () => new Promise<void>(() => undefined) };
		await submitVia(a, tiktok, emailUsers(3), SCOPE, { windowMs: 0 }, { pacer: noSlot });
		let member = '';
		await until('A holds the request', async () => {
			member = (await group.admin.zrange(`${base}lease`, 0, -1)).find((entry) => /:a:/.test(entry)) ?? '';
			return member !== '';
		});
		const leaseEnd = async () => Number(await group.admin.zscore(`${base}lease`, member));
		expect(await leaseEnd()).toBe(T0 + leaseMs);
		await clock.advance(paceBudgetMs(leaseMs) - 1);
		expect(await leaseEnd()).toBe(T0 + leaseMs);
		// Handed back at the budget's end, and (due at once) claimed again with a new lease from then.
		await clock.advance(1);
		await until('claimed again', async () => (await leaseEnd()) === T0 + paceBudgetMs(leaseMs) + leaseMs);
		expect(await group.admin.hget(`${base}c:${member.slice(0, 15)}`, 'a.f')).toBe('0');
		expect(tiktok.calls).toHaveLength(0);
	});

	it('renew with a stale token returns 0 while the new holder sends, and leaves the new lease alone', async () => {
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, new FakeClock());
		const b = group.newProc(prefix, new FakeClock());
		const storeA = group.storeOf(a, SCOPE);
		const storeB = group.storeOf(b, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const settings = settingsOf({ windowMs: 0, usersPerRequest: 3 });
		await admit(storeA, emailUsers(3), T0, settings);
		const claimA = (await storeA.claim(T0, settings, terms(), 1)).claim as RedisClaim;
		// A's lease lapses; B takes the request over and is sending it.
		const later = T0 + DEFAULT_LEASE_MS + 1;
		const claimB = (await storeB.claim(later, settings, terms(), 1)).claim as RedisClaim;
		expect(claimB.member).toBe(claimA.member);
		const leaseB = await group.admin.zscore(`${base}lease`, claimB.member);
		expect(leaseB).toBe(String(later + DEFAULT_LEASE_MS));
		expect(await storeA.renew(claimA, later + SECOND, terms())).toBe(false);
		expect(await group.admin.zscore(`${base}lease`, claimB.member)).toBe(leaseB);
		expect(await storeB.renew(claimB, later + SECOND, terms())).toBe(true);
		expect(await group.admin.zscore(`${base}lease`, claimB.member)).toBe(String(later + SECOND + DEFAULT_LEASE_MS));
	});

	it('settle with a stale token returns 0 and changes nothing, whatever the outcome it reports', async () => {
		const clock = new FakeClock();
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, clock);
		const b = group.newProc(prefix, clock);
		const storeA = group.storeOf(a, SCOPE);
		const storeB = group.storeOf(b, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const settings = settingsOf({ windowMs: 0, usersPerRequest: 3 });
		const settle = (proc: Proc, claim: { member: string }, token: string, outcome: 'synced' | 'retry' | 'errored', now = T0 + MINUTE) =>
			settleScript(proc)(base, token, now, claim.member, outcome, now + 5 * SECOND, outcome === 'retry' ? now + MINUTE : 0, 'TikTok error 50000: System error', 1, 0);

		// A claims a request of 3 users, its lease ends, B takes it over; then a second request is queued that nobody
		// claims.
		await admit(storeA, emailUsers(3), T0, settings);
		const claimA = (await storeA.claim(T0, settings, terms(), 1)).claim as RedisClaim;
		const claimB = (await storeB.claim(T0 + DEFAULT_LEASE_MS, settings, terms(), 1)).claim as RedisClaim;
		expect(claimB.member).toBe(claimA.member);
		expect(claimB.token).not.toBe(claimA.token);
		await admit(storeA, emailUsers(3, 3), T0 + DEFAULT_LEASE_MS, settings);
		const [, , second] = await group.admin.zrange(`${base}due`, 0, -1);
		expect(second).toBeUndefined();
		const queued = (await group.admin.zrange(`${base}due`, 0, -1))[0];
		expect(queued).toMatch(/:w:3:/);

		const before = await snapshot(group.admin, prefix);
		expect(before[`${base}c:${claimA.member.slice(0, 15)}`]).toMatchObject({ 'a.st': 'sending', 'a.tk': claimB.token, 'a.u': '3' });
		for (const outcome of ['synced', 'retry', 'errored'] as const) {
			expect(await settle(a, claimA, claimA.token, outcome)).toBe(0);
			// A request nobody claimed has no token; an empty or made-up one settles nothing either.
			expect(await settle(a, { member: queued }, '', outcome)).toBe(0);
			expect(await settle(a, { member: queued }, claimA.token, outcome)).toBe(0);
			expect(await settle(a, { member: claimA.member.replace(/^\d{15}/, '059999999999999') }, claimA.token, outcome)).toBe(0);
		}
		// A stale token renews nothing.
		expect(await storeA.renew(claimA, T0 + MINUTE, terms())).toBe(false);
		expect(await snapshot(group.admin, prefix)).toEqual(before);
		expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 6, pending: 6, synced: 0, errored: 0 });

		// The current token settles once; settling again (a duplicate) is stale too.
		expect(await settle(b, claimB, claimB.token, 'synced')).toBe(1);
		const afterSettle = await snapshot(group.admin, prefix);
		expect(await settle(b, claimB, claimB.token, 'synced')).toBe(0);
		expect(await settle(a, claimA, claimA.token, 'errored')).toBe(0);
		expect(await snapshot(group.admin, prefix)).toEqual(afterSettle);
		expect(await a.coordinator.report(SCOPE)).toMatchObject({ entered: 6, synced: 3, pending: 3, errored: 0, added: 3 });
	});

	it('Max Pending Users holds across processes while TikTok fails; rejected users are counted nowhere', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		tiktok.fail = () => serverError();
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, clock);
		const b = group.newProc(prefix, clock);
		idleHook(clock, [a, b]);
		const settings = { maxPendingUsers: 100, usersPerRequest: 10, windowMs: 0 };
		const fromA = emailUsers(90, 0, 'a');
		const fromB = emailUsers(90, 0, 'b');
		// Three calls of 30 users per process, all at once, started alternately.
		const calls = [0, 30, 60].flatMap((start) => [
			{ proc: a, users: fromA.slice(start, start + 30) },
			{ proc: b, users: fromB.slice(start, start + 30) },
		]);
		const results = await Promise.all(calls.map(({ proc, users }) => submitVia(proc, tiktok, users, SCOPE, settings)));
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
		const again = await submitVia(b, tiktok, fromB.slice(0, 5), SCOPE, settings);
		expect(again.tallies).toMatchObject({ entered: 5, rejected: 0 });
	});
});

describe('Redis engine: keys', () => {
	it('a window cut by a claim that cannot send it at once (an earlier request of the other action is in flight) waits with a TTL', async () => {
		const clock = new FakeClock();
		const prefix = group.newPrefix('races');
		const a = group.newProc(prefix, clock);
		const store = group.storeOf(a, SCOPE);
		const base = a.coordinator.scopeBase(SCOPE);
		const ttl = defaultSyncSettings(10_000).retryHorizonMs + KEY_MARGIN_MS;
		// Window 1: an add, cut at once (one user per request) and claimed: nothing is due while it is sent.
		await admit(store, emailUsers(1), T0, settingsOf({ windowMs: 0, usersPerRequest: 1 }));
		const sending = (await store.claim(T0, settingsOf(), terms(), 1)).claim as RedisClaim;
		expect(sending.batch.target.action).toBe('add');
		expect(await group.admin.exists(`${base}due`)).toBe(0);
		// Window 2: a remove, in a 5 s window; the claim that cuts and splits it must hold it behind window 1's add.
		await admit(store, emailUsers(1, 50).map((user) => ({ ...user, action: 'delete' as const })), T0, settingsOf({ windowMs: 5_000 }));
		expect(await store.claim(T0 + 5_000, settingsOf(), terms(), 1)).toEqual({ nextAt: T0 + DEFAULT_LEASE_MS, changed: true });
		const [blocked] = await group.admin.zrange(`${base}uns:${destOf(sending.member)}:d`, 0, -1);
		expect(await group.admin.zrange(`${base}blk:${destOf(sending.member)}:d`, 0, -1)).toEqual([blocked]);
		// Every key it wrote expires with the scope's TTL (the retry horizon + the margin), not just "some time".
		for (const key of [`${base}blk:${destOf(sending.member)}:d`, `${base}c:${blocked.slice(0, 15)}`, `${base}r:${blocked.slice(0, 15)}`, `${base}cnt`]) {
			const pttl = await group.admin.pttl(key);
			expect({ key, pttl: Math.round(pttl / HOUR) }).toEqual({ key, pttl: Math.round(ttl / HOUR) });
		}
	});
});

/** The audience digest of a member "<id>:<act>:<users>:<dest>". */
function destOf(member: string): string {
	return member.slice(member.lastIndexOf(':') + 1);
}
