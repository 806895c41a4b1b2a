/*
 * A stalled holder cannot leave an opted-out user in the audience (nor a re-added user out of it): two Redis
 * processes on one scope with a 1 s lease, sending to the local TikTok API. Process A claims a user's request and
 * stalls (its process paused, or Redis unreachable from it alone); its lease lapses; B takes the request over and
 * delivers it, then the user's opposite action comes in through B. What reaches TikTok, and in which order, decides
 * the user's final state: that is what these tests read back from the local API, with the counters.
 */
import { digestHex } from '../../nodes/shared/digest';
import { TikTokClient } from '../../nodes/shared/transport/client';
import type { MappingBatch } from '../../nodes/shared/transport/mapping';
import { realClock, type Destination, type SendMapping, type SubmitRequest } from '../../nodes/TikTokBatchSync/engine';
import { FENCE_MARGIN_MS, renewEveryMs, sendBudgetMs } from '../../nodes/TikTokBatchSync/engine/limits';
import { ALREADY_PACED, mappingSender } from '../../nodes/TikTokBatchSync/sender';
import { DEMO, startTikTokLocal, type TikTokLocal } from '../tiktok-local/server';
import { FakeClock } from '../harness/clock';
import { createAudience, US } from '../harness/fixtures';
import { TEST_REDIS } from '../harness/engine';
import { ProcessGroup, until, type Proc } from '../harness/redisProcs';
import { TcpProxy } from '../harness/tcpProxy';

const SCOPE = 'wf-stall:Batch Sync';
const LEASE_MS = 1_000;
const USER = digestHex('sha256', 'opt-out@example.com');
const MEMBER = `EMAIL_SHA256:${USER}`;

let local: TikTokLocal;
const group = new ProcessGroup();

beforeAll(async () => {
	local = await startTikTokLocal({ recordRequests: true });
});
afterEach(() => group.dispose());
afterAll(async () => {
	await group.close();
	await local.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The nodes' sender to the local API (made once the API listens). */
const sender = (): SendMapping => mappingSender(new TikTokClient({ baseUrl: local.url, accessToken: DEMO.accessToken, appId: DEMO.appId }, { pacer: ALREADY_PACED }));

/** The mapping requests TikTok got for the user, in arrival order: 'add' / 'delete'. */
const actionsSeen = () => local.requests({ path: 'segment/mapping/' }).filter((entry) => entry.ids?.includes(MEMBER)).map((entry) => entry.action);

function request(proc: Proc, audienceId: string, action: 'add' | 'delete', extra: Partial<SubmitRequest>): Promise<unknown> {
	const destination: Destination = { advertiserId: US, audienceId, action, idSchema: ['EMAIL_SHA256'] };
	return proc.coordinator.submit({
		scope: SCOPE,
		destination,
		users: [{ key: USER, ids: [USER] }],
		send: sender(),
		pacer: ALREADY_PACED,
		settings: { windowMs: 0 },
		waitForDelivery: false,
		...extra,
	});
}

/** When the lease A holds on the user's request ends (Redis's record), once A has claimed it. */
async function leaseHeldByA(base: string): Promise<number> {
	let member: string | undefined;
	await until('A holds the lease', async () => {
		[member] = (await group.admin.zrange(`${base}lease`, 0, -1)).filter((entry) => /:[ad]:/.test(entry));
		return member !== undefined;
	});
	return Number(await group.admin.zscore(`${base}lease`, member as string));
}

/** An audience for the test (holding the user when its first action removes it), and A (its clock stood still) and B. */
async function stallSetup(name: string, first: 'add' | 'delete', aPort?: number) {
	const audienceId = await createAudience(local, name);
	if (first === 'delete') await sender()({ target: { advertiserId: US, audienceId, action: 'add', idSchema: ['EMAIL_SHA256'] }, rows: 1, columns: [[USER]] });
	local.clearRequests();
	const prefix = group.newPrefix('stall');
	const clockA = new FakeClock(Date.now());
	const a = group.newProc(prefix, aPort === undefined ? clockA : realClock, { leaseMs: LEASE_MS }, aPort);
	const b = group.newProc(prefix, realClock, { leaseMs: LEASE_MS });
	return { audienceId, clockA, a, b };
}

/** Waits for A's lease to lapse, then B takes the request over and delivers it. */
async function takeOver(leaseEnd: number, b: Proc): Promise<void> {
	await sleep(leaseEnd - Date.now() + 50);
	await b.coordinator.flush(SCOPE, { send: sender(), pacer: ALREADY_PACED });
}

/** TikTok holds the user as its last action says, and the user's two actions were counted once each. */
async function expectFinalState(audienceId: string, memberAtEnd: boolean, b: Proc): Promise<void> {
	expect(local.members(audienceId).includes(MEMBER)).toBe(memberAtEnd);
	expect(await b.coordinator.report(SCOPE)).toMatchObject({ entered: 2, synced: 2, pending: 0, errored: 0, added: 1, removed: 1 });
}

describe.each([
	['an opt-out', 'add', 'delete', false],
	['a re-add', 'delete', 'add', true],
] as const)(`A stalls on the request before %s (lease ${LEASE_MS} ms)`, (_name, first, second, memberAtEnd) => {
	beforeEach(() => local.reset());

	it('paused before its request leaves: when it resumes its renewal finds the lease gone and nothing is sent', async () => {
		const { audienceId, clockA, a, b } = await stallSetup(`stall-paused-${first}`, first);
		let resume!: () => void;
		const paused = new Promise<void>((resolve) => (resume = resolve));
		await request(a, audienceId, first, { pacer: { acquire: () => paused } });
		const leaseEnd = await leaseHeldByA(a.coordinator.scopeBase(SCOPE));

		// The lease lapses; B takes the request over and delivers it.
		await takeOver(leaseEnd, b);
		expect(actionsSeen()).toEqual([first]);
		// The user's next action comes in through B.
		const next = request(b, audienceId, second, { waitForDelivery: true });

		// A resumes with its clock where the wall clock is: its renewal returns 0, its request is not sent.
		clockA.setTime(Date.now());
		await clockA.advance(0);
		resume();
		await next;
		await a.coordinator.whenIdle();
		expect(actionsSeen()).toEqual([first, second]);
		await expectFinalState(audienceId, memberAtEnd, b);
	});

	it('paused, its pacer slot granted the moment it resumes: its own clock says the lease ran out, so nothing is sent (before any renewal could say so)', async () => {
		const { audienceId, clockA, a, b } = await stallSetup(`stall-slot-${first}`, first);
		let resume!: () => void;
		const paused = new Promise<void>((resolve) => (resume = resolve));
		await request(a, audienceId, first, { pacer: { acquire: () => paused } });
		const leaseEnd = await leaseHeldByA(a.coordinator.scopeBase(SCOPE));

		await takeOver(leaseEnd, b);
		const next = request(b, audienceId, second, { waitForDelivery: true });
		await next;
		expect(actionsSeen()).toEqual([first, second]);

		// A wakes up with its slot granted at once: no renewal timer has fired yet, its clock is past the lease.
		clockA.setTime(Date.now());
		resume();
		await clockA.advance(0);
		await a.coordinator.whenIdle();
		await sleep(100);
		expect(actionsSeen()).toEqual([first, second]);
		await expectFinalState(audienceId, memberAtEnd, b);
	});

	it('its clock behind by more than the fence (it believes its lease still runs), held up before its request leaves: its renewal returns 0 and aborts the send', async () => {
		const { audienceId, clockA, a, b } = await stallSetup(`stall-skew-${first}`, first);
		// A is slow to send (a busy machine): its request has not left yet.
		let go!: () => void;
		const slow = new Promise<void>((resolve) => (go = resolve));
		let signal: AbortSignal | undefined;
		const slowSend: SendMapping = async (batch, options) => {
			signal = options?.signal;
			await slow;
			await sender()(batch, options);
		};
		await request(a, audienceId, first, { send: slowSend });
		const leaseEnd = await leaseHeldByA(a.coordinator.scopeBase(SCOPE));
		await until('A is sending', () => signal !== undefined);

		await takeOver(leaseEnd, b);
		// B's next action goes out once the fence has passed.
		await request(b, audienceId, second, { waitForDelivery: true });
		expect(actionsSeen()).toEqual([first, second]);

		// A's clock has moved only a third of the lease: its renewal is due, and finds the request taken over.
		await clockA.advance(renewEveryMs(LEASE_MS));
		await until('A aborted its send', () => signal?.aborted === true);
		go();
		await a.coordinator.whenIdle();
		expect(actionsSeen()).toEqual([first, second]);
		await expectFinalState(audienceId, memberAtEnd, b);
	});

	it('paused after its request left, the copy arriving late: the next action waits for the fence and TikTok applies it last', async () => {
		const { audienceId, a, b } = await stallSetup(`stall-late-${first}`, first);
		// A writes its request, then its process pauses: the copy is on its way, and arrives when the test says.
		let stalled: MappingBatch | undefined;
		const stallingSend: SendMapping = async (batch) => {
			stalled = batch;
			await new Promise(() => undefined);
		};
		await request(a, audienceId, first, { send: stallingSend });
		const leaseEnd = await leaseHeldByA(a.coordinator.scopeBase(SCOPE));
		await until('A wrote its request', () => stalled !== undefined);

		await takeOver(leaseEnd, b);
		expect(actionsSeen()).toEqual([first]);
		const next = request(b, audienceId, second, { waitForDelivery: true });

		// A's copy reaches TikTok as late as it can: after A's lease's end and its send budget.
		const fenceEnd = leaseEnd + sendBudgetMs(LEASE_MS) + FENCE_MARGIN_MS;
		await sleep(leaseEnd + sendBudgetMs(LEASE_MS) - Date.now());
		expect(actionsSeen()).toEqual([first]);
		await sender()(stalled as MappingBatch);
		await next;
		const sent = local.requests({ path: 'segment/mapping/' }).filter((entry) => entry.ids?.includes(MEMBER));
		expect(sent.map((entry) => entry.action)).toEqual([first, first, second]);
		expect(sent[2].at).toBeGreaterThanOrEqual(fenceEnd);
		await expectFinalState(audienceId, memberAtEnd, b);
	});

	it('cut off from Redis while waiting to send: its renewals get no answer, the send is aborted before it leaves', async () => {
		const proxy = await TcpProxy.start(TEST_REDIS);
		try {
			const { audienceId, a, b } = await stallSetup(`stall-cut-${first}`, first, proxy.port);
			// A is slow to send (the machine is busy): by the time it would, it has lost the lease.
			let go!: () => void;
			const slow = new Promise<void>((resolve) => (go = resolve));
			let aborted: boolean | undefined;
			const slowSend: SendMapping = async (batch, options) => {
				await slow;
				aborted = options?.signal?.aborted;
				await sender()(batch, options);
			};
			await request(a, audienceId, first, { send: slowSend });
			const leaseEnd = await leaseHeldByA(a.coordinator.scopeBase(SCOPE));
			proxy.blackhole();

			await takeOver(leaseEnd, b);
			const next = request(b, audienceId, second, { waitForDelivery: true });
			go();
			await until('A tried to send', () => aborted !== undefined);
			await next;
			expect(aborted).toBe(true);
			expect(actionsSeen()).toEqual([first, second]);
			await expectFinalState(audienceId, memberAtEnd, b);
		} finally {
			await proxy.close();
		}
	});
});
