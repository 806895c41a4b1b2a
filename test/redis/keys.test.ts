/*
 * The Redis engine's keys: where they are, how long they live (the scope's stored retry horizon + the margin, whoever
 * writes them), and what happens to users whose data vanished (evicted, deleted): errored with a reason, never left
 * pending. Real Redis on 127.0.0.1:6379, each test on its own prefix.
 */
import { TikTokApiError } from '../../nodes/shared/transport/errors';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { KEY_MARGIN_MS, OUTCOME_KEEP_MS } from '../../nodes/TikTokBatchSync/engine/limits';
import { LOST_REASON } from '../../nodes/TikTokBatchSync/engine/redis/store';
import { DEFAULT_RETRY_HORIZON_MS } from '../../nodes/TikTokBatchSync/engine/settings';
import { ALREADY_PACED } from '../../nodes/TikTokBatchSync/sender';
import { FakeClock, HOUR, MINUTE, SECOND } from '../harness/clock';
import { EMAIL_DESTINATION, FakeTikTok, emailUsers } from '../harness/engine';
import { scanKeys } from '../harness/redisKeys';
import { ProcessGroup, idleHook, submitVia } from '../harness/redisProcs';

const SCOPE = 'wf-keys:Batch Sync';
const serverError = () => new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 });
const rateLimited = () => new TikTokApiError({ message: 'Too many requests', tiktokMessage: 'Too many requests', code: 40100, httpStatus: 200 });
const audienceGone = () => new TikTokApiError({ message: 'Audience does not exist', tiktokMessage: 'Audience does not exist', code: 40002 });

const group = new ProcessGroup();

/** One Redis process whose every request TikTok answers with a server error (so its users wait for retries). */
function failingProcess() {
	const clock = new FakeClock();
	const tiktok = new FakeTikTok(clock);
	tiktok.fail = () => serverError();
	const a = group.newProc(group.newPrefix('keys'), clock);
	idleHook(clock, [a]);
	return { clock, tiktok, a, base: a.coordinator.scopeBase(SCOPE) };
}
afterEach(() => group.dispose());
afterAll(() => group.close());

/** Every key under the prefix with its TTL, in hours, rounded to 0.1 h: TTLs count down in real time while the test runs. */
async function ttlHours(prefix: string): Promise<Record<string, number>> {
	const out: Record<string, number> = {};
	for (const key of await scanKeys(group.admin, `${prefix}:*`)) {
		const suffix = key.slice(key.indexOf('}:') + 2).replace(/\d{15}/, '<id>').replace(/[0-9a-f]{20}/, '<dest>');
		const pttl = await group.admin.pttl(key);
		out[`${suffix} ${key.includes('}:rq:') ? '(reply)' : ''}`.trim()] = pttl < 0 ? pttl : Math.round((pttl / HOUR) * 10) / 10;
	}
	return out;
}

describe('Redis engine: keys and their lifetimes', () => {
	it("keeps every key under <prefix>:{s:…}: with the TTL of the scope's stored horizon + the margin, and nothing under bull: or n8n:", async () => {
		const others = async () => new Set([...(await scanKeys(group.admin, 'bull:*')), ...(await scanKeys(group.admin, 'n8n:*'))]);
		const before = await others();
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		const prefix = group.newPrefix('keys');
		const a = group.newProc(prefix, clock);
		const b = group.newProc(prefix, clock);
		idleHook(clock, [a, b]);
		const base = a.coordinator.scopeBase(SCOPE);
		const settings = { retryHorizonMs: 2 * HOUR };
		const scopeTtl = (2 * HOUR + KEY_MARGIN_MS) / HOUR;
		const briefly = Math.round((OUTCOME_KEEP_MS / HOUR) * 10) / 10;

		// A journal of the in-process engine moves in, users are refused by the node, others admitted.
		const local = newTikTokCoordinator({ clock, random: () => 0.5 });
		const failing = new FakeTikTok(clock);
		failing.fail = () => serverError();
		await local.submit({ scope: SCOPE, destination: EMAIL_DESTINATION, users: emailUsers(4, 500), send: failing.send, pacer: ALREADY_PACED, waitForDelivery: false });
		await clock.advance(5 * SECOND);
		const journal = JSON.parse(JSON.stringify(local.exportJournal(SCOPE)));
		local.reset();
		tiktok.fail = (_request, index) => (index === 1 ? rateLimited() : index === 3 ? audienceGone() : undefined);
		await submitVia(b, tiktok, emailUsers(3), SCOPE, settings);
		expect(await a.coordinator.importJournal(SCOPE, journal, tiktok.send, ALREADY_PACED, settings)).toEqual({ restoredUsers: 4 });
		await submitVia(b, tiktok, [], SCOPE, settings, { notSyncedReasons: ['invalid email', 'invalid email'] });
		await clock.settle();
		const early = await ttlHours(prefix);
		// Every key that holds state lives exactly the scope's TTL (or, for settled windows and stored replies, the
		// time waiting runs need).
		const wrong = Object.entries(early).filter(([key, hours]) => hours !== scopeTtl && hours !== briefly);
		expect(wrong).toEqual([]);
		expect(early).toMatchObject({ cnt: scopeTtl, set: scopeTtl, dests: scopeTtl });

		// A rate-limit error (hold), a permanent error, removes held behind adds: every key written still gets it.
		await clock.advance(5 * SECOND);
		await submitVia(a, tiktok, emailUsers(2, 10).map((user) => ({ ...user, action: 'delete' as const })), SCOPE, settings);
		await clock.advance(2 * MINUTE);
		await a.coordinator.flush(SCOPE);
		await clock.advance(10 * MINUTE);
		const late = await ttlHours(prefix);
		expect(Object.entries(late).filter(([, hours]) => hours !== scopeTtl && hours !== briefly)).toEqual([]);
		const counters = await a.coordinator.report(SCOPE);
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
		// Nothing of the test under n8n's prefixes, and the scope's keys only under the package's prefix.
		const created = [...(await others())].filter((key) => !before.has(key));
		expect(created.filter((key) => key.includes(prefix) || key.includes(base.slice(prefix.length)))).toEqual([]);
		expect((await scanKeys(group.admin, `*${base.slice(prefix.length + 1, -1)}*`)).every((key) => key.startsWith(`${prefix}:`))).toBe(true);
	});

	it('a process on default settings (13 h) that only sends never shortens the TTL a 720 h node stored', async () => {
		const clock = new FakeClock();
		const tiktok = new FakeTikTok(clock);
		tiktok.fail = (_request, index) => (index === 0 ? serverError() : undefined);
		const prefix = group.newPrefix('keys');
		const node = group.newProc(prefix, clock);
		const sender = group.newProc(prefix, clock);
		idleHook(clock, [node, sender]);
		const long = 720 * HOUR;
		await submitVia(node, tiktok, emailUsers(5), SCOPE, { retryHorizonMs: long });
		await clock.advance(5 * SECOND);
		// The node's process goes away; another process (defaults: 13 h) claims, retries and flushes.
		node.coordinator.reset();
		await sender.coordinator.flush(SCOPE, { send: tiktok.send, pacer: ALREADY_PACED });
		await submitVia(sender, tiktok, [], SCOPE, {});
		await clock.advance(MINUTE);
		expect(await sender.coordinator.report(SCOPE)).toMatchObject({ entered: 5, synced: 5 });
		const expected = (long + KEY_MARGIN_MS) / HOUR;
		const ttls = await ttlHours(prefix);
		expect(ttls.cnt).toBe(expected);
		expect(ttls.set).toBe(expected);
		expect(Object.entries(ttls).filter(([key, hours]) => !key.endsWith('(reply)') && !key.startsWith('c:') && hours < expected)).toEqual([]);
		expect(DEFAULT_RETRY_HORIZON_MS).toBeLessThan(long);
	});

	it.each([
		['its rows', (base: string, id: string) => `${base}r:${id}`],
		['its record', (base: string, id: string) => `${base}c:${id}`],
		['the retry queue itself', (base: string) => `${base}retry`],
	])('users whose data vanished (%s deleted while they wait for a retry) are errored with a reason, not left pending', async (_what, keyOf) => {
		const { clock, tiktok, a, base } = failingProcess();
		await submitVia(a, tiktok, emailUsers(4), SCOPE, { windowMs: 0 });
		await clock.advance(0);
		const [member] = await group.admin.zrange(`${base}retry`, 0, -1);
		expect(member).toBeDefined();
		expect(await group.admin.del(keyOf(base, member.slice(0, 15)))).toBe(1);
		tiktok.fail = undefined;
		await clock.advance(HOUR);
		const counters = await a.coordinator.report(SCOPE);
		expect(counters).toMatchObject({ entered: 4, pending: 0, errored: 4, synced: 0 });
		expect(counters.erroredReasons).toEqual({ [LOST_REASON]: 4 });
		expect(tiktok.calls).toHaveLength(1);
	});

	it.each([
		['its rows', (base: string, id: string) => `${base}r:${id}`],
		['its record', (base: string, id: string) => `${base}c:${id}`],
	])('a request whose data vanished (%s) is errored when it comes due, while another request keeps the scope busy', async (_what, keyOf) => {
		const { clock, tiktok, a, base } = failingProcess();
		// Two requests of two users each, both waiting for their retry; one loses its data.
		await submitVia(a, tiktok, emailUsers(4), SCOPE, { windowMs: 0, usersPerRequest: 2 });
		await clock.advance(0);
		const waiting = await group.admin.zrange(`${base}retry`, 0, -1);
		expect(waiting).toHaveLength(2);
		expect(await group.admin.del(keyOf(base, waiting[0].slice(0, 15)))).toBe(1);
		// The other one keeps failing: the scope is never idle, so only the lost request's own look can settle it.
		await clock.advance(10 * SECOND);
		const counters = await a.coordinator.report(SCOPE);
		expect(counters).toMatchObject({ entered: 4, pending: 2, errored: 2, synced: 0 });
		expect(counters.erroredReasons).toEqual({ [LOST_REASON]: 2 });
	});
});
