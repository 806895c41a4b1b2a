/*
 * Graceful shutdown in queue mode: a worker told to stop (n8n's SIGTERM) claims nothing more, hands back at once what
 * it claimed but has not sent (another worker sends it now, not after the 30 s lease), and waits a bounded time for
 * the requests in flight. n8n gives community nodes no shutdown hook: the engine listens to the signal itself, once,
 * beside n8n's own listener, and never keeps a process alive that nobody else would stop.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';

import { realClock } from '../../nodes/TikTokBatchSync/engine';
import { FakeTikTok, TEST_REDIS, emailUsers } from '../harness/engine';
import { ProcessGroup, submitVia, until } from '../harness/redisProcs';

const SCOPE = 'wf-shutdown:Batch Sync';
const group = new ProcessGroup();
afterEach(() => group.dispose());
afterAll(() => group.close());

describe('Redis engine: graceful shutdown', () => {
	it('hands back unsent requests at once, waits for the one in flight, and claims nothing more', async () => {
		const prefix = group.newPrefix('shutdown');
		const tiktok = new FakeTikTok(realClock);
		// A worker: one request in flight (TikTok answers when the test says), three waiting for a pacer slot.
		let answer!: () => void;
		const answered = new Promise<void>((resolve) => (answer = resolve));
		tiktok.fail = (_request, index) => (index === 0 ? answered.then(() => undefined) : undefined);
		let slots = 1;
		const pacer = { acquire: () => (slots-- > 0 ? Promise.resolve() : new Promise<void>(() => undefined)) };
		const worker = group.newProc(prefix, realClock);
		const other = group.newProc(prefix, realClock);
		const base = worker.coordinator.scopeBase(SCOPE);
		await submitVia(worker, tiktok, emailUsers(4), SCOPE, { windowMs: 0, usersPerRequest: 1 }, { pacer });
		await until('the worker holds four requests', async () => (await group.admin.zcard(`${base}lease`)) === 4);
		expect(tiktok.calls).toHaveLength(1);

		const started = Date.now();
		const stopping = worker.coordinator.shutdown(5_000);
		// The three unsent requests are back at once: due now, no longer leased.
		await until('the unsent requests are handed back', async () => (await group.admin.zcard(`${base}lease`)) === 1, 1_000);
		expect(await group.admin.zcard(`${base}due`)).toBe(3);
		// Another worker sends them now, not when the 30 s lease would have run out.
		await submitVia(other, tiktok, [], SCOPE, { windowMs: 0, usersPerRequest: 1 });
		await until('the other worker sends them', () => tiktok.calls.length === 4, 2_000);
		expect(Date.now() - started).toBeLessThan(3_000);

		// The one in flight is answered within the wait: settled by the worker, then shutdown returns.
		setTimeout(answer, 300);
		await stopping;
		expect(Date.now() - started).toBeLessThan(5_000);
		expect(await other.coordinator.report(SCOPE)).toMatchObject({ entered: 4, synced: 4, pending: 0 });
		expect(await group.admin.zcard(`${base}lease`)).toBe(0);
		// Stopped: new users are still taken in (another worker sends them), but this one claims nothing.
		await submitVia(worker, tiktok, emailUsers(1, 10), SCOPE, { windowMs: 0 });
		await new Promise((resolve) => setTimeout(resolve, 100));
		expect(tiktok.calls).toHaveLength(4);
		expect(await other.coordinator.report(SCOPE)).toMatchObject({ entered: 5, synced: 4, pending: 1 });
	});

	it('a claim on its way to Redis when shutdown starts: what it took (both parts of a window) is handed back before shutdown returns, nothing is sent', async () => {
		const prefix = group.newPrefix('shutdown');
		const tiktok = new FakeTikTok(realClock);
		const worker = group.newProc(prefix, realClock);
		const base = worker.coordinator.scopeBase(SCOPE);
		const users = emailUsers(2).map((user, index) => ({ ...user, action: index === 0 ? ('add' as const) : ('delete' as const) }));
		await submitVia(worker, tiktok, users, SCOPE, { windowMs: 0 });
		// The submit started a claim (its reply, then the split leasing both parts, still to come): stop now.
		await worker.coordinator.shutdown(5_000);
		expect(await group.admin.zcard(`${base}lease`)).toBe(0);
		expect(await group.admin.zcard(`${base}due`)).toBe(2);
		await worker.coordinator.whenIdle();
		expect(tiktok.calls).toHaveLength(0);
		expect(await group.admin.zcard(`${base}lease`)).toBe(0);
		expect(await worker.coordinator.report(SCOPE)).toMatchObject({ entered: 2, synced: 0, pending: 2 });
	});

	it('in a process with its own SIGTERM handler (n8n), stops beside it and lets it decide when to exit', async () => {
		const { exit, handedBackIn } = await signalChild(true);
		expect(exit).toEqual({ code: 0, signal: null });
		expect(handedBackIn).toBeLessThan(5_000);
	});

	it('in a process nobody else stops on SIGTERM, hands back and then lets the signal end the process', async () => {
		const { exit, handedBackIn } = await signalChild(false);
		expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
		expect(handedBackIn).toBeLessThan(5_000);
	});
});

/** Starts a worker process holding four claims, sends it SIGTERM, and sees how it ends and how soon they came back. */
async function signalChild(n8nLike: boolean): Promise<{ exit: { code: number | null; signal: string | null }; handedBackIn: number }> {
	const prefix = group.newPrefix('shutdown');
	const root = join(__dirname, '..', '..');
	const child = fork(join(__dirname, 'shutdownChild.ts'), [prefix, String(TEST_REDIS.port), n8nLike ? '1' : '0'], {
		cwd: root,
		execArgv: ['--import', 'tsx'],
		stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
	});
	const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
	await new Promise<void>((resolve, reject) => {
		const timer = setTimeout(() => reject(new Error('the worker did not get ready in 20 s')), 20_000);
		child.stdout?.on('data', (chunk: Buffer) => {
			if (chunk.toString().includes('ready')) {
				clearTimeout(timer);
				resolve();
			}
		});
		child.once('exit', () => reject(new Error('the worker exited before it was ready')));
	});
	const base = `${prefix}:{s:${(await import('../../nodes/shared/redis/keys')).digest(SCOPE)}}:`;
	const signalled = Date.now();
	child.kill('SIGTERM');
	// (Generous: on a loaded machine the worker's event loop may lag; the time it took is checked by the caller.)
	await until('the claims are handed back', async () => (await group.admin.zcard(`${base}due`)) === 4, 15_000);
	const handedBackIn = Date.now() - signalled;
	expect(await group.admin.zcard(`${base}lease`)).toBe(0);
	return { exit: await exited, handedBackIn };
}
