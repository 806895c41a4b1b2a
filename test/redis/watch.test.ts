/*
 * How a queue-mode process hears of other processes' work without polling: one blocking connection per process,
 * one BZPOPMIN over every scope it knows (not a connection per scope), reissued with the new keys when a scope is
 * added. Real Redis on 127.0.0.1:6379, real time.
 */
import { realClock } from '../../nodes/TikTokBatchSync/engine';
import { FakeTikTok, emailUsers } from '../harness/engine';
import { ProcessGroup, submitVia, until } from '../harness/redisProcs';

const group = new ProcessGroup();
afterEach(() => group.dispose());
afterAll(() => group.close());

describe('Redis engine: one blocking read per process', () => {
	it('watches every scope on one connection and takes up work another process hands back in any of them', async () => {
		const prefix = group.newPrefix('watch');
		const tiktok = new FakeTikTok(realClock);
		const watcher = group.newProc(prefix, realClock, { watch: true });
		let duplicates = 0;
		const duplicate = watcher.redis.duplicate.bind(watcher.redis);
		watcher.redis.duplicate = ((...args: Parameters<typeof duplicate>) => {
			duplicates++;
			return duplicate(...args);
		}) as typeof watcher.redis.duplicate;
		const scopes = ['wf-watch:one', 'wf-watch:two', 'wf-watch:three'];
		// The watcher knows three scopes (it sent users of each); the blocking read is started once and reissued.
		for (const [index, scope] of scopes.entries()) {
			await submitVia(watcher, tiktok, emailUsers(1, index), scope, { windowMs: 0 });
			await new Promise((resolve) => setTimeout(resolve, 50));
		}
		await until('the watcher sent its own users', () => tiktok.calls.length === 3);
		expect(duplicates).toBe(1);

		// Another process claims work of the last scope but never gets a pacer slot, then shuts down: what it hands
		// back marks the scope's work, and only the watcher's blocking read can hear of it (no timer of its own is due).
		const other = group.newProc(prefix, realClock, { watch: false });
		const never = { acquire: () => new Promise<void>(() => undefined) };
		await submitVia(other, tiktok, emailUsers(2, 100), scopes[2], { windowMs: 0 }, { pacer: never });
		const base = other.coordinator.scopeBase(scopes[2]);
		await until('the other process holds the request', async () => (await group.admin.zcard(`${base}lease`)) === 1);
		const handedBack = Date.now();
		await other.coordinator.shutdown(100);
		await until('the watcher sends the handed-back request', () => tiktok.calls.length === 4, 3_000);
		expect(Date.now() - handedBack).toBeLessThan(3_000);
		expect(tiktok.sentIds().slice(3)).toEqual(emailUsers(2, 100).map((user) => user.ids[0]));
		expect(duplicates).toBe(1);
	});
});
