/*
 * ioredis sends a command again when the connection drops before its reply came (autoResendUnfulfilledCommands), so
 * every state-changing script of the Redis store may run twice. Here the connection drops right after the script ran
 * and before its reply reached the client (a TCP proxy in front of Redis loses the reply and closes), the client
 * reconnects and resends, and the state must be as if the script had run once.
 */
import { Activity } from '../../nodes/TikTokBatchSync/engine/activity';
import { DEFAULT_LEASE_MS, sendBudgetMs } from '../../nodes/TikTokBatchSync/engine/limits';
import { RedisStore, type ScriptCaller } from '../../nodes/TikTokBatchSync/engine/redis/store';
import { defaultSyncSettings } from '../../nodes/TikTokBatchSync/engine/settings';
import { FakeClock, T0 } from '../harness/clock';
import { EMAIL_DESTINATION, TEST_REDIS, emailUsers } from '../harness/engine';
import { ProcessGroup, snapshot, type Proc } from '../harness/redisProcs';
import { TcpProxy } from '../harness/tcpProxy';

const SCOPE = 'wf-replay:Batch Sync';
const settings = { ...defaultSyncSettings(10_000), windowMs: 0, usersPerRequest: 3 };
const terms = { leaseMs: DEFAULT_LEASE_MS, sendBudgetMs: sendBudgetMs(DEFAULT_LEASE_MS) };

const group = new ProcessGroup();
let proxy: TcpProxy;
let proc: Proc;
let store: RedisStore;
let prefix: string;
let reconnects: number;

beforeEach(async () => {
	proxy = await TcpProxy.start(TEST_REDIS);
	prefix = group.newPrefix('replay');
	proc = group.newProc(prefix, new FakeClock(), {}, proxy.port);
	reconnects = 0;
	proc.redis.on('reconnecting', () => reconnects++);
	store = new RedisStore(proc.redis, proc.redis as unknown as ScriptCaller, proc.coordinator.scopeBase(SCOPE), new Activity());
	await proc.redis.ping();
});
afterEach(async () => {
	await group.dispose();
	await proxy.close();
});
afterAll(() => group.close());

const counters = () => group.storeOf(proc, SCOPE).report();

describe('Redis store: scripts run twice by a resend after a lost reply', () => {
	it('admit counts its users once and appends their rows once', async () => {
		const placement = store.placement(emailUsers(2), EMAIL_DESTINATION);
		proxy.dropReply();
		expect(await store.admit(placement, 0, { ...settings, windowMs: 60_000 }, T0)).toMatchObject({ admitted: 2 });
		expect(reconnects).toBeGreaterThan(0);
		expect(await counters()).toMatchObject({ entered: 2, pending: 2 });
		const base = proc.coordinator.scopeBase(SCOPE);
		const [open] = await group.admin.zrange(`${base}open`, 0, -1);
		expect((await group.admin.get(`${base}r:${open.slice(0, 15)}`))?.split('\n').filter((line) => /^[ad]/.test(line))).toHaveLength(2);
		expect(placement.windows).toHaveLength(1);
	});

	it("not-synced counts the node's refusals once", async () => {
		proxy.dropReply();
		await store.recordNotSynced(['invalid email', 'invalid email', 'no identifier'], T0, settings);
		expect(reconnects).toBeGreaterThan(0);
		expect(await counters()).toMatchObject({ entered: 3, notSynced: 3, notSyncedReasons: { 'invalid email': 2, 'no identifier': 1 } });
	});

	it('claim run twice hands back what the first run took: the window is claimable at once, not leased to nobody', async () => {
		await store.admit(store.placement(emailUsers(3), EMAIL_DESTINATION), 0, settings, T0);
		proxy.dropReply();
		expect(await store.claim(T0, settings, terms, 1)).toEqual({ nextAt: T0, changed: true });
		expect(reconnects).toBeGreaterThan(0);
		const base = proc.coordinator.scopeBase(SCOPE);
		expect(await group.admin.zcard(`${base}lease`)).toBe(0);
		const claim = (await store.claim(T0, settings, terms, 1)).claim;
		expect(claim?.batch.rows).toBe(3);
	});

	it('split run twice gives the same answer and makes the parts once', async () => {
		const users = emailUsers(3).map((user, index) => ({ ...user, action: index === 1 ? ('delete' as const) : ('add' as const) }));
		await store.admit(store.placement(users, EMAIL_DESTINATION), 0, settings, T0);
		// The claim's reply comes through; the split's reply (the next one) is lost.
		proxy.dropReply(1);
		const first = (await store.claim(T0, settings, terms, 2)).claim;
		expect(reconnects).toBeGreaterThan(0);
		const second = (await store.claim(T0, settings, terms, 2)).claim;
		expect([first?.batch.target.action, second?.batch.target.action]).toEqual(['add', 'delete']);
		const base = proc.coordinator.scopeBase(SCOPE);
		expect(await group.admin.zcard(`${base}lease`)).toBe(2);
		expect(await group.admin.zcard(`${base}uns:${first?.member.slice(first.member.lastIndexOf(':') + 1)}:a`)).toBe(1);
	});

	it('settle run twice counts the delivery once', async () => {
		await store.admit(store.placement(emailUsers(3), EMAIL_DESTINATION), 0, settings, T0);
		const claim = (await store.claim(T0, settings, terms, 1)).claim!;
		proxy.dropReply();
		await store.settle(claim, { kind: 'synced' }, T0);
		expect(reconnects).toBeGreaterThan(0);
		expect(await counters()).toMatchObject({ entered: 3, synced: 3, pending: 0, added: 3 });
	});

	it('hand-back, cut and probe run twice leave the state as one run does', async () => {
		await store.admit(store.placement(emailUsers(3), EMAIL_DESTINATION), 0, settings, T0);
		const claim = (await store.claim(T0, settings, terms, 1)).claim!;
		proxy.dropReply();
		await store.handBack(claim, T0);
		const once = await snapshot(group.admin, prefix);
		await store.handBack(claim, T0);
		expect(await snapshot(group.admin, prefix)).toEqual(once);
		await store.admit(store.placement(emailUsers(2, 10), EMAIL_DESTINATION), 0, { ...settings, windowMs: 60_000 }, T0);
		proxy.dropReply();
		await store.cut(T0);
		expect(await counters()).toMatchObject({ entered: 5, pending: 5 });
		expect(await group.admin.zcard(`${proc.coordinator.scopeBase(SCOPE)}due`)).toBe(2);
	});

	it('import moves a journal in once', async () => {
		proxy.dropReply();
		const reply = await store.run('tiktokSyncImport', 'writer-1:1', T0, 0, JSON.stringify({ synced: 5, notSynced: 1, errored: 0 }), 0);
		expect(reconnects).toBeGreaterThan(0);
		// The resend finds the journal imported already.
		expect(reply).toBe(0);
		expect(await counters()).toMatchObject({ entered: 6, synced: 5, notSynced: 1 });
	});
});
