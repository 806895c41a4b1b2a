/*
 * The Redis engine's rows: a batch is cut across windows where the client's row ends say, never by scanning the rows
 * in Lua. Rows of one width (one hashed id each) go with their width; rows of different widths, or with keys beyond
 * ASCII, with a table of their ends in bytes. Real Redis on 127.0.0.1:6379.
 */
import { packRows } from '../../nodes/TikTokBatchSync/engine/redis/rows';
import type { SyncUser } from '../../nodes/TikTokBatchSync/engine';
import { FakeClock } from '../harness/clock';
import { FakeTikTok, emailUsers, hexId } from '../harness/engine';
import { ProcessGroup, idleHook, submitVia } from '../harness/redisProcs';

const SCOPE = 'wf-rows:Batch Sync';
const group = new ProcessGroup();
afterEach(() => group.dispose());
afterAll(() => group.close());

/** Users of mixed row widths: own keys (some beyond ASCII), and ids of different lengths. */
function mixedUsers(count: number): SyncUser[] {
	const users: SyncUser[] = [];
	for (let n = 0; n < count; n++) {
		const id = n % 3 === 0 ? hexId(n) : hexId(n).slice(n % 7);
		users.push(n % 4 === 1 ? { key: `clé-${n}-ü€`, ids: [id] } : { key: id, ids: [id] });
	}
	return users;
}

describe('Redis engine: rows cut across windows', () => {
	it('says the width when every row has one, else each row end in bytes (beyond ASCII counted in bytes)', () => {
		const uniform = packRows(emailUsers(3), 0, 3, 'add');
		expect(uniform.ends).toBe('w66');
		expect(uniform.rows.length).toBe(3 * 66);
		const mixed = packRows(mixedUsers(6), 0, 6, 'add');
		const ends = mixed.ends as Buffer;
		const lines = mixed.rows.toString('utf8').split('\n').slice(0, -1);
		let end = 0;
		lines.forEach((line, index) => {
			end += Buffer.byteLength(line) + 1;
			expect(ends.readUInt32LE(4 * index)).toBe(end);
		});
		expect(end).toBe(mixed.rows.length);
	});

	for (const [label, make] of [
		['one width', (count: number) => emailUsers(count)],
		['mixed widths and keys beyond ASCII', mixedUsers],
	] as const) {
		it(`${label}: runs that straddle windows send every user once, in order`, async () => {
			const clock = new FakeClock();
			const tiktok = new FakeTikTok(clock);
			const proc = group.newProc(group.newPrefix('rows'), clock);
			idleHook(clock, [proc]);
			const users = make(40);
			// Windows of 7 users, runs of 5, 11 and 24: every run but none of the windows lines up.
			const settings = { usersPerRequest: 7, windowMs: 60_000 };
			await submitVia(proc, tiktok, users.slice(0, 5), SCOPE, settings);
			await submitVia(proc, tiktok, users.slice(5, 16), SCOPE, settings);
			await submitVia(proc, tiktok, users.slice(16), SCOPE, settings);
			await proc.coordinator.flush(SCOPE);
			await clock.idle?.();
			expect(tiktok.calls.map((call) => call.request.batchData.length)).toEqual([7, 7, 7, 7, 7, 5]);
			expect(tiktok.sentIds()).toEqual(users.map((user) => user.ids[0]));
			expect(await proc.coordinator.report(SCOPE)).toMatchObject({ entered: 40, synced: 40, pending: 0 });
		});
	}
});
