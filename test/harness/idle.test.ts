/*
 * The test helpers that wait for an engine to be idle: "not idle in time" must fail the test loudly, never pass for
 * idle (a send or a loop that hangs would otherwise be hidden behind a test that happens to pass).
 */
import { FakeClock, SETTLE_ROUNDS } from './clock';
import { idleWithin } from './engine';

const never = { whenIdle: () => new Promise<boolean>(() => undefined) };
const idleAlready = { whenIdle: async () => true };
const wasBusy = { whenIdle: async () => false };

describe('idle helpers', () => {
	it('idleWithin: an engine still busy after the limit fails with which one, never resolves as idle', async () => {
		await expect(idleWithin([never], 50)()).rejects.toThrow('the engine was not idle within 50 ms');
		await expect(idleWithin([idleAlready, never], 50)()).rejects.toThrow('the engine was not idle within 50 ms (busy: 1 of 2)');
	});

	it('idleWithin: says whether every engine was idle already', async () => {
		await expect(idleWithin([idleAlready, idleAlready], 50)()).resolves.toBe(true);
		await expect(idleWithin([idleAlready, wasBusy], 50)()).resolves.toBe(false);
	});

	it('FakeClock: an engine that never turns idle fails advance() and settle(), loudly', async () => {
		const clock = new FakeClock();
		let looks = 0;
		clock.idle = async () => (looks++, false);
		await expect(clock.settle()).rejects.toThrow(`still busy after ${SETTLE_ROUNDS} rounds`);
		expect(looks).toBe(SETTLE_ROUNDS);
		clock.idle = idleWithin([never], 50);
		await expect(clock.advance(1_000)).rejects.toThrow('not idle within 50 ms');
	});

	it('FakeClock: an engine busy for a few rounds, then idle, settles', async () => {
		const clock = new FakeClock();
		let looks = 0;
		clock.idle = async () => ++looks > 3;
		await clock.advance(1_000);
		expect(looks).toBeGreaterThan(3);
	});
});
