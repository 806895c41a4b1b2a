import { performance } from 'node:perf_hooks';
import { pacerFor, resetPacers, TIKTOK_MAX_REQUESTS_PER_SECOND } from '../../nodes/shared/transport/rateLimit';
import { EMAIL_DESTINATION, emailUsers, expectWhole } from '../harness/engine';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

describe('Batch Sync engine: real clock and the shared 50 requests/s pacer', () => {
	beforeEach(() => resetPacers());
	afterEach(() => resetPacers());

	it('never lets a 1,000 ms window hold more than 50 requests, across two scopes of one app', async () => {
		const coordinator = newTikTokCoordinator();
		const sentAt: number[] = [];
		const send = async () => {
			sentAt.push(performance.now());
		};
		const settings = { usersPerRequest: 1, windowMs: 0 };
		const started = performance.now();
		// Two nodes (scopes) on the same TikTok app: 60 one-user requests each.
		const runs = ['wf-5:Sync A', 'wf-6:Sync B'].map((scope, index) =>
			coordinator.submit({
				scope,
				destination: EMAIL_DESTINATION,
				users: emailUsers(60, index * 1_000),
				send,
				pacer: pacerFor('app-under-test'),
				settings,
				waitForDelivery: true,
			}),
		);
		const results = await Promise.all(runs);
		const elapsed = performance.now() - started;

		expect(results.map((result) => result.tallies.synced)).toEqual([60, 60]);
		expect(sentAt).toHaveLength(120);
		const sorted = [...sentAt].sort((a, b) => a - b);
		let busiestWindow = 0;
		for (let first = 0; first < sorted.length; first++) {
			let last = first;
			while (last + 1 < sorted.length && sorted[last + 1] - sorted[first] < 1_000) last++;
			busiestWindow = Math.max(busiestWindow, last - first + 1);
		}
		expect(busiestWindow).toBeLessThanOrEqual(TIKTOK_MAX_REQUESTS_PER_SECOND);
		// …and the pacer is not much stricter than it must be: 120 requests at 50/s take about 2.5 s (bounds are loose
		// because a busy 2-core machine delays timers; the ceiling above is what must always hold).
		expect(busiestWindow).toBeGreaterThanOrEqual(20);
		expect(elapsed).toBeLessThan(8_000);
		for (const scope of ['wf-5:Sync A', 'wf-6:Sync B']) expect((await expectWhole(coordinator, scope)).synced).toBe(60);
		coordinator.reset();
	});

	it('spaces the requests of one app 1050 ms / 50 = 21 ms apart (the 5% margin), and a caller at 10/s 105 ms apart', async () => {
		// Fake timers (the bucket reads the faked performance.now): the spacing is exact, not blurred by a busy machine.
		jest.useFakeTimers({ now: 0 });
		try {
			const spacing = async (pacer: { acquire(): Promise<void> }, requests: number) => {
				const at: number[] = [];
				const run = (async () => {
					for (let n = 0; n < requests; n++) {
						await pacer.acquire();
						at.push(Date.now());
					}
				})();
				await jest.advanceTimersByTimeAsync(requests * 200);
				await run;
				return at.slice(1).map((time, index) => Math.round(time - at[index]));
			};
			expect(await spacing(pacerFor('app-spacing'), 11)).toEqual(Array(10).fill(21));
			expect(await spacing(pacerFor('app-spacing-2', { callerKey: 'wf-1:node', requestsPerSecond: 10 }), 6)).toEqual(Array(5).fill(105));
		} finally {
			jest.useRealTimers();
		}
	});
});
