/**
 * Faults, engine level: the Batch Sync coordinator on a manual clock, sending through the real TikTokClient over
 * HTTP to the local TikTok API with injected faults. Minutes and hours of retries pass in milliseconds; every
 * request is real. Each test checks who is in the audience at the end (at the local API) and that the counters add
 * up (entered = synced + notSynced + pending + errored) at every step.
 */
import { digestHex } from '../../nodes/shared/digest';
import { TikTokClient } from '../../nodes/shared/transport/client';
import type { SendMapping, SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { ALREADY_PACED, mappingSender } from '../../nodes/TikTokBatchSync/sender';
import type { Destination, SubmitRequest, SubmitResult, SyncUser } from '../../nodes/TikTokBatchSync/engine/types';
import { DEMO, startTikTokLocal, type TikTokLocal } from '../tiktok-local/server';
import { US, createAudience } from '../harness/fixtures';
import { Driver, InflightTracker, watchUnhandled } from './helpers';
import { FakeClock, HOUR, MINUTE, SECOND, T0 } from '../harness/clock';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

const SCOPE = 'wf-faults:Batch Sync';

let local: TikTokLocal;
const tracker = new InflightTracker();
let clock: FakeClock;
let driver: Driver;
let coordinator: SyncCoordinator;
let unhandled: ReturnType<typeof watchUnhandled>;

function clientFor(token: string, timeoutMs = 2_000): TikTokClient {
	return new TikTokClient({ baseUrl: local.url, accessToken: token, appId: DEMO.appId }, { pacer: ALREADY_PACED, timeoutMs });
}

/** The nodes' own sender: the shared request builder, failures classified for the engine. */
const sendVia = mappingSender;

function emails(count: number, prefix: string): string[] {
	return Array.from({ length: count }, (_, i) => `${prefix}${i}@example.com`);
}

function usersOf(list: string[]): SyncUser[] {
	return list.map((email) => {
		const hash = digestHex('sha256', email);
		return { key: hash, ids: [hash] };
	});
}

const memberOf = (email: string) => `EMAIL_SHA256:${digestHex('sha256', email)}`;

function destination(audienceId: string): Destination {
	return { advertiserId: US, audienceId, action: 'add', idSchema: ['EMAIL_SHA256'] };
}

function whole() {
	const counters = coordinator.report(SCOPE);
	expect(counters.entered).toBe(counters.synced + counters.notSynced + counters.pending + counters.errored);
	for (const value of [counters.synced, counters.notSynced, counters.pending, counters.errored]) expect(value).toBeGreaterThanOrEqual(0);
	return counters;
}

function submit(audienceId: string, list: string[], extra: Partial<SubmitRequest> = {}): Promise<SubmitResult> {
	return coordinator.submit({
		scope: SCOPE,
		destination: destination(audienceId),
		users: usersOf(list),
		send: sendVia(clientFor(DEMO.accessToken)),
		pacer: ALREADY_PACED,
		settings: { windowMs: 0 },
		waitForDelivery: true,
		...extra,
	});
}

const mappingAttempts = () => local.stats().byPath['segment/mapping/'] ?? 0;

/** Every member of the audience is one of `list` and every one of `list` is a member. */
function expectMembersExactly(audienceId: string, list: string[]): void {
	expect(local.memberCount(audienceId)).toBe(list.length);
	expect(new Set(local.members(audienceId))).toEqual(new Set(list.map(memberOf)));
}

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
	clock = new FakeClock(T0);
	driver = new Driver(clock, tracker);
	coordinator = newTikTokCoordinator({ clock, random: () => 0.5 });
	unhandled = watchUnhandled();
});

afterEach(() => {
	coordinator.reset();
	unhandled.stop();
	expect(unhandled.seen).toEqual([]);
});

it('40100 for five minutes: users stay pending, the scope backs off 60 s, 120 s, 240 s without hammering, then all land', async () => {
	const audienceId = await createAudience(local, 'rate limited');
	const first = emails(500, 'rl-a');
	const second = emails(300, 'rl-b');
	local.injectFault({ durationMs: HOUR, pathIncludes: 'segment/mapping', code: 40100 });

	const result = await driver.settle(submit(audienceId, first));
	expect(result.tallies).toMatchObject({ entered: 500, pending: 500, synced: 0, errored: 0 });
	expect(result.outcomes[0].reason).toMatch(/^will retry: TikTok error 40100: Due to too many requests/);

	// More users arrive during the outage; the scope is held after the 40100, so they wait instead of piling on.
	await driver.advanceTo(T0 + 30 * SECOND);
	const during = await driver.settle(submit(audienceId, second, { waitForDelivery: false }));
	expect(during.tallies).toMatchObject({ entered: 300, pending: 300 });
	await driver.advanceTo(T0 + 59 * SECOND);
	expect(mappingAttempts()).toBe(1);
	expect(whole()).toMatchObject({ entered: 800, pending: 800, synced: 0 });

	await driver.advanceTo(T0 + 5 * MINUTE);
	// 0 s, 60 s (both requests), 180 s: a handful of attempts in five minutes, not one per second.
	expect(mappingAttempts()).toBeGreaterThanOrEqual(3);
	expect(mappingAttempts()).toBeLessThanOrEqual(5);
	expect(whole()).toMatchObject({ pending: 800, synced: 0, errored: 0 });
	expect(local.memberCount(audienceId)).toBe(0);

	local.clearFaults();
	await driver.advanceTo(T0 + 20 * MINUTE);
	expect(whole()).toMatchObject({ entered: 800, synced: 800, pending: 0, errored: 0 });
	expectMembersExactly(audienceId, [...first, ...second]);
	expect(mappingAttempts()).toBeLessThanOrEqual(8);
});

it('50000 and 50002 (TikTok system errors) are retried on the 5 s, 10 s, 20 s schedule until TikTok recovers', async () => {
	const audienceId = await createAudience(local, 'system errors');
	const list = emails(1_200, 'sys');
	local.injectFault({ count: 2, pathIncludes: 'segment/mapping', code: 50000 });
	local.injectFault({ count: 1, pathIncludes: 'segment/mapping', code: 50002 });

	const result = await driver.settle(submit(audienceId, list));
	expect(result.outcomes[0]).toEqual({ status: 'pending', reason: 'will retry: TikTok error 50000: System error. Please try again later.' });
	await driver.advanceTo(T0 + 5 * SECOND);
	expect(whole()).toMatchObject({ pending: 1_200, synced: 0 });
	await driver.advanceTo(T0 + 15 * SECOND);
	expect(mappingAttempts()).toBe(3);
	expect(whole()).toMatchObject({ pending: 1_200, synced: 0 });
	await driver.advanceTo(T0 + 35 * SECOND);
	expect(mappingAttempts()).toBe(4);
	expect(whole()).toMatchObject({ entered: 1_200, synced: 1_200, pending: 0, errored: 0 });
	expectMembersExactly(audienceId, list);
});

it('HTTP 429 and 502 with HTML bodies are retried (429 as a rate limit), and no HTML reaches a reason', async () => {
	const audienceId = await createAudience(local, 'html errors');
	const list = emails(700, 'html');
	local.injectFault({ count: 1, pathIncludes: 'segment/mapping', httpStatus: 429, html: true });
	local.injectFault({ count: 1, pathIncludes: 'segment/mapping', httpStatus: 502, html: true });

	const result = await driver.settle(submit(audienceId, list));
	expect(result.outcomes[0]).toEqual({
		status: 'pending',
		reason: 'will retry: TikTok HTTP 429: TikTok answered HTTP 429 without its JSON envelope',
	});
	// A 429 is a rate limit: 60 s before the next try, not 5 s.
	await driver.advanceTo(T0 + 59 * SECOND);
	expect(mappingAttempts()).toBe(1);
	await driver.advanceTo(T0 + 60 * SECOND);
	expect(mappingAttempts()).toBe(2);
	const journal = JSON.stringify(coordinator.exportJournal(SCOPE));
	expect(journal).toContain('TikTok HTTP 502: TikTok answered HTTP 502 without its JSON envelope');
	expect(journal).not.toMatch(/<html|<!DOCTYPE|edge-proxy/i);
	expect(whole()).toMatchObject({ pending: 700 });
	await driver.advanceTo(T0 + 2 * MINUTE);
	expect(whole()).toMatchObject({ entered: 700, synced: 700, pending: 0, errored: 0 });
	expectMembersExactly(audienceId, list);
});

it('responses slower than the timeout are retried; users land (at least once), none is lost or doubled in the audience', async () => {
	const audienceId = await createAudience(local, 'slow');
	const list = emails(2_000, 'slow');
	local.injectFault({ count: 2, pathIncludes: 'segment/mapping', delayMs: 1_200 });

	const result = await driver.settle(submit(audienceId, list, { send: sendVia(clientFor(DEMO.accessToken, 400)) }));
	expect(result.outcomes[0]).toEqual({ status: 'pending', reason: 'will retry: TikTok request failed: TikTok did not answer in time' });
	await driver.advanceTo(T0 + 5 * SECOND);
	expect(whole()).toMatchObject({ pending: 2_000 });
	await driver.advanceTo(T0 + 15 * SECOND);
	expect(whole()).toMatchObject({ entered: 2_000, synced: 2_000, pending: 0, errored: 0 });
	// The two slow requests still reach TikTok after the client gave up: wait for them, then look.
	for (let waited = 0; local.stats().mappingRequests < 3 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
	expect(local.stats()).toMatchObject({ mappingRequests: 3, usersReceived: 6_000 });
	expectMembersExactly(audienceId, list);
});

it('connections reset mid-request are retried and every user lands', async () => {
	const audienceId = await createAudience(local, 'resets');
	const list = emails(900, 'reset');
	local.injectFault({ count: 2, pathIncludes: 'segment/mapping', delayMs: 20, reset: true });

	const result = await driver.settle(submit(audienceId, list));
	expect(result.outcomes[0]).toEqual({ status: 'pending', reason: 'will retry: TikTok request failed: the connection to TikTok was reset' });
	await driver.advanceTo(T0 + 14 * SECOND);
	expect(whole()).toMatchObject({ pending: 900 });
	expect(local.memberCount(audienceId)).toBe(0);
	await driver.advanceTo(T0 + 15 * SECOND);
	expect(whole()).toMatchObject({ entered: 900, synced: 900, pending: 0, errored: 0 });
	expectMembersExactly(audienceId, list);
	expect(local.stats().faultsInjected).toBe(2);
});

it('a token revoked mid-run keeps the rest pending; reconnecting later delivers them all at once', async () => {
	coordinator = newTikTokCoordinator({ clock, random: () => 0.5, maxRequestsInFlight: 1 });
	const audienceId = await createAudience(local, 'revoked mid-run');
	const list = emails(25_000, 'mid');
	const oldClient = clientFor(DEMO.accessToken);
	let delivered = 0;
	// The credential is revoked in TikTok right after the first request got through.
	const sendOld = mappingSender(oldClient);
	const send: SendMapping = async (batch) => {
		await sendOld(batch);
		if (++delivered === 1) local.revokeToken(DEMO.accessToken);
	};

	const result = await driver.settle(submit(audienceId, list, { send, settings: { windowMs: 0 } }));
	expect(result.tallies).toMatchObject({ entered: 25_000, synced: 10_000, pending: 15_000, errored: 0 });
	expect(result.outcomes[24_999].reason).toBe('will retry: TikTok error 40105: Access token is incorrect or has been revoked.');
	await driver.advanceTo(T0 + 2 * HOUR);
	expect(whole()).toMatchObject({ synced: 10_000, pending: 15_000, errored: 0 });
	expect(local.memberCount(audienceId)).toBe(10_000);

	// Reconnect: a new token for the same app, handed over by the next execution.
	local.addToken('reconnected-token', DEMO.appId);
	const attemptsBefore = mappingAttempts();
	await driver.settle(coordinator.flush(SCOPE, { send: sendVia(clientFor('reconnected-token')), pacer: ALREADY_PACED }));
	expect(whole()).toMatchObject({ entered: 25_000, synced: 25_000, pending: 0, errored: 0 });
	expect(mappingAttempts() - attemptsBefore).toBe(2);
	expectMembersExactly(audienceId, list);
});

it('a token revoked and never reconnected: users pending until exactly 13 h after they entered, then errored with the reason', async () => {
	const audienceId = await createAudience(local, 'never reconnected');
	const list = emails(300, 'gone');
	local.revokeToken(DEMO.accessToken);

	const result = await driver.settle(submit(audienceId, list));
	expect(result.tallies).toMatchObject({ entered: 300, pending: 300 });
	await driver.advanceTo(T0 + 13 * HOUR - 1);
	expect(whole()).toMatchObject({ pending: 300, errored: 0 });
	const attempts = mappingAttempts();
	// About one attempt per 15 minutes once backed off: TikTok is not hammered for 13 hours.
	expect(attempts).toBeGreaterThan(40);
	expect(attempts).toBeLessThan(70);

	await driver.advanceTo(T0 + 13 * HOUR);
	const counters = whole();
	expect(counters).toMatchObject({ entered: 300, synced: 0, pending: 0, errored: 300 });
	expect(counters.erroredReasons).toEqual({
		'gave up after 13 h of retries: TikTok error 40105: Access token is incorrect or has been revoked.': 300,
	});
	expect(coordinator.exportJournal(SCOPE).queues).toEqual([]);
	await driver.advanceTo(T0 + 20 * HOUR);
	expect(mappingAttempts()).toBe(attempts);
	expect(local.memberCount(audienceId)).toBe(0);
});

it('an audience deleted in TikTok errors its users at once with TikTok\'s reason; another audience in the same scope is unaffected', async () => {
	const doomed = await createAudience(local, 'doomed');
	const healthy = await createAudience(local, 'healthy');
	const doomedUsers = emails(400, 'doomed');
	const healthyUsers = emails(600, 'healthy');
	local.deleteAudience(doomed);

	const [bad, good] = await driver.settle(Promise.all([submit(doomed, doomedUsers), submit(healthy, healthyUsers)]));
	const reason = `TikTok error 40002: Parameter error: invalid audience ID ${doomed}: it does not exist, was deleted, or does not belong to advertiser_ids.`;
	expect(bad.tallies).toMatchObject({ entered: 400, errored: 400, pending: 0 });
	expect(bad.outcomes[0]).toEqual({ status: 'errored', reason });
	expect(good.tallies).toMatchObject({ entered: 600, synced: 600 });
	expect(whole()).toMatchObject({ entered: 1_000, synced: 600, errored: 400, pending: 0, erroredReasons: { [reason]: 400 } });
	expectMembersExactly(healthy, healthyUsers);
	// Permanent: never retried.
	await driver.advanceTo(T0 + 13 * HOUR);
	expect(mappingAttempts()).toBe(2);
});
