/**
 * The comparison and the commit rules of "Mirror List", on both stores (a folder on disk, real Redis): what is sent,
 * what is remembered, and that TikTok's audience equals the list after every successful run, whatever failed or
 * crashed before it.
 */
import { MirrorMemory, MirrorSessionError, type MirrorStorage } from '../../nodes/shared/mirror';
import { AudienceModel, Crash, crashingStore, diskStorages, identifiersOf, mirror, people, redisStorages, sha, type Person, type StorageKind } from './harness';

const kinds: StorageKind[] = [diskStorages(), redisStorages()];

describe.each(kinds)('mirror on the $name store', (kind) => {
	let storage: MirrorStorage;
	let audience: AudienceModel;

	beforeEach(() => {
		storage = kind.make();
		audience = new AudienceModel();
	});
	afterEach(async () => await kind.cleanup());

	const remembered = async (store = storage) => (await MirrorMemory.open(store)).count();

	it('the log is folded into a new snapshot once it is big, and nothing changes by it', async () => {
		await mirror(storage, audience, people(30_000));
		const memory = await MirrorMemory.open(storage);
		expect(memory.pendingChanges).toBe(0); // 60,000 log entries (unconfirmed + added) were folded
		await mirror(storage, audience, [...people(29_000), ...people(100, 50_000)]);
		expect((await MirrorMemory.open(storage)).pendingChanges).toBe(2 * 1_100); // small: kept as a log
		expect(await remembered()).toBe(29_100);
		expect(audience.sorted()).toEqual(identifiersOf([...people(29_000), ...people(100, 50_000)], ['email']));
	});

	it('a first run adds everyone; the next run of the same list sends nothing', async () => {
		const list = people(25);
		const first = await mirror(storage, audience, list);
		expect(first).toMatchObject({ firstRun: true, members: 25, added: 25, removed: 0, unchanged: 0, rememberedAfter: 25, requests: 1 });
		expect(audience.sorted()).toEqual(identifiersOf(list, ['email']));

		const second = await mirror(storage, audience, [...list].reverse());
		expect(second).toMatchObject({ firstRun: false, rememberedBefore: 25, unchanged: 25, added: 0, removed: 0, requests: 0 });
		expect(audience.requests).toHaveLength(1);
	});

	it('sends only the difference, removes before adds, and the audience equals the list', async () => {
		await mirror(storage, audience, people(10));
		const next = [...people(8), ...people(3, 100)]; // users 8 and 9 left, 100–102 joined
		const outcome = await mirror(storage, audience, next);
		expect(outcome).toMatchObject({ unchanged: 8, added: 3, removed: 2, changed: 0, rememberedAfter: 11, requests: 2 });
		expect(audience.requests.slice(1).map((request) => [request.action, request.batchData.length])).toEqual([
			['delete', 2],
			['add', 3],
		]);
		expect(audience.sorted()).toEqual(identifiersOf(next, ['email']));
		expect(await remembered()).toBe(11);
	});

	it('a changed identifier: the old tuple is removed and the new one added; the shared email stays', async () => {
		const before: Person[] = [{ email: 'ada@example.com', phone: '+441234' }, ...people(3, 0, true)];
		await mirror(storage, audience, before, { fields: ['email', 'phone'] });
		const after: Person[] = [{ email: 'ada@example.com', phone: '+449999' }, ...people(3, 0, true)];
		const outcome = await mirror(storage, audience, after, { fields: ['email', 'phone'] });
		expect(outcome).toMatchObject({ removed: 1, changed: 1, added: 1, unchanged: 3 });
		expect(audience.sorted()).toEqual(identifiersOf(after, ['email', 'phone']));
		expect(audience.members.has(`EMAIL_SHA256:${sha('ada@example.com')}`)).toBe(true);
	});

	it('an identifier another remaining member still has is left out of the removal', async () => {
		// Two people sharing a phone (a household); one leaves the list.
		const before: Person[] = [{ email: 'a@example.com', phone: '+15550001' }, { email: 'b@example.com', phone: '+15550001' }, ...people(4)];
		await mirror(storage, audience, before, { fields: ['email', 'phone'] });
		const after = before.slice(1);
		const outcome = await mirror(storage, audience, after, { fields: ['email', 'phone'] });
		expect(outcome).toMatchObject({ removed: 1, changed: 0, added: 0 });
		const removal = audience.requests.at(-1);
		expect(removal?.action).toBe('delete');
		expect(removal?.idSchema).toEqual(['EMAIL_SHA256']); // the phone column is empty: not sent at all
		expect(audience.sorted()).toEqual(identifiersOf(after, ['email', 'phone']));
	});

	it('a failed request is not remembered: the next run sends exactly those users again', async () => {
		const list = people(25);
		audience.fail = (_request, index) => (index === 1 ? new Error('TikTok error 50000: system error') : undefined);
		const first = await mirror(storage, audience, list, { usersPerRequest: 10 });
		expect(first).toMatchObject({ added: 15, errored: 10, erroredReasons: { 'TikTok error 50000: system error': 10 }, rememberedAfter: 15 });
		const failedRows = audience.requests[1].batchData.map((row) => (row[0] as { id: string }).id).sort();

		audience.fail = undefined;
		const second = await mirror(storage, audience, list, { usersPerRequest: 10 });
		expect(second).toMatchObject({ added: 10, unchanged: 15, errored: 0, rememberedAfter: 25 });
		expect(audience.requests.slice(3).flatMap((request) => request.batchData.map((row) => (row[0] as { id: string }).id)).sort()).toEqual(failedRows);
		expect(audience.sorted()).toEqual(identifiersOf(list, ['email']));
	});

	it('a failed removal leaves the member unconfirmed, and the next run removes it', async () => {
		await mirror(storage, audience, people(10));
		audience.fail = (request) => (request.action === 'delete' ? new Error('TikTok error 40100: too many requests') : undefined);
		const failed = await mirror(storage, audience, people(7));
		expect(failed).toMatchObject({ removed: 0, errored: 3, rememberedAfter: 7, unconfirmed: 3 });
		audience.fail = undefined;
		const again = await mirror(storage, audience, people(7));
		expect(again).toMatchObject({ removed: 3, rememberedAfter: 7, unconfirmed: 0 });
		expect(audience.sorted()).toEqual(identifiersOf(people(7), ['email']));
	});

	it('a removal TikTok applied but whose answer was lost, then the user is back in the list: added again', async () => {
		await mirror(storage, audience, people(10));
		audience.lose = (request) => request.action === 'delete';
		await mirror(storage, audience, people(9)); // user 9 removed in TikTok; the node saw a failure
		audience.lose = undefined;
		expect(audience.members.has(`EMAIL_SHA256:${sha('user9@example.com')}`)).toBe(false);
		const back = await mirror(storage, audience, people(10));
		expect(back).toMatchObject({ added: 1, removed: 0, unconfirmed: 0, rememberedAfter: 10 });
		expect(audience.sorted()).toEqual(identifiersOf(people(10), ['email']));
	});

	it('an add TikTok applied but whose answer was lost, then the user leaves the list: removed', async () => {
		await mirror(storage, audience, people(10));
		audience.lose = (request) => request.action === 'add';
		await mirror(storage, audience, people(11));
		audience.lose = undefined;
		const gone = await mirror(storage, audience, people(10));
		expect(gone).toMatchObject({ removed: 1, added: 0, rememberedAfter: 10 });
		expect(audience.sorted()).toEqual(identifiersOf(people(10), ['email']));
	});

	it('a crash between a request TikTok applied and its memory entry: the users are sent again, nothing is lost', async () => {
		await mirror(storage, audience, people(10));
		const next = [...people(6), ...people(4, 50)];
		// The store dies right after TikTok applied the removal (the process crashed before writing it down).
		const dying: MirrorStorage = Object.create(storage);
		dying.appendLog = async (generation, entry) => {
			if (entry.op !== 'unconfirmed') throw new Error('process killed');
			await storage.appendLog(generation, entry);
		};
		await expect(mirror(dying, audience, next)).rejects.toThrow('process killed');
		expect(audience.rows('delete')).toBe(4);

		const after = await mirror(storage, audience, next);
		expect(after).toMatchObject({ removed: 4, added: 4, rememberedAfter: 10 }); // the removal is sent again
		expect(audience.sorted()).toEqual(identifiersOf(next, ['email']));
	});

	it('a crash while a new snapshot is written leaves the old one and its log in force', async () => {
		await mirror(storage, audience, people(10));
		const next = [...people(5), ...people(5, 20)];
		await mirror(storage, audience, next);
		const dying: MirrorStorage = Object.create(storage);
		dying.replaceSnapshot = async (generation, types, produce) => {
			await produce(async () => undefined);
			throw new Error('process killed while writing the snapshot');
		};
		const memory = await MirrorMemory.open(dying);
		expect(memory.pendingChanges).toBeGreaterThan(0);
		await expect(memory.compact(undefined, true)).rejects.toThrow('process killed');
		expect(await remembered()).toBe(10);
		const after = await mirror(storage, audience, next);
		expect(after).toMatchObject({ unchanged: 10, added: 0, removed: 0, requests: 0, rememberedAfter: 10 });
		expect(audience.sorted()).toEqual(identifiersOf(next, ['email']));
	});

	it('a lost answer (TikTok applied it, the node saw a failure) is repaired by the next run', async () => {
		audience.lose = (_request, index) => index === 0;
		await mirror(storage, audience, people(5));
		audience.lose = undefined;
		const outcome = await mirror(storage, audience, people(5));
		expect(outcome).toMatchObject({ added: 5, rememberedAfter: 5 });
		expect(audience.sorted()).toEqual(identifiersOf(people(5), ['email']));
	});

	it('the safety limit: removing more than the allowed share sends nothing and remembers nothing', async () => {
		await mirror(storage, audience, people(10));
		const requests = audience.requests.length;
		const outcome = await mirror(storage, audience, [...people(4), ...people(2, 30)]); // 6 of 10 would leave
		expect(outcome.refusal).toEqual({ kind: 'safetyLimit', removing: 6, remembered: 10, allowedShare: 0.5 });
		expect(outcome).toMatchObject({ added: 0, removed: 0, rememberedAfter: 10 });
		expect(audience.requests).toHaveLength(requests);
		expect(await remembered()).toBe(10);

		const allowed = await mirror(storage, audience, [...people(4), ...people(2, 30)], { maxRemoveShare: 0.6 });
		expect(allowed).toMatchObject({ removed: 6, added: 2, rememberedAfter: 6 });
		// Exactly at the limit is allowed.
		expect((await mirror(storage, audience, people(3), { maxRemoveShare: 0.5 })).refusal).toBeUndefined();
	});

	it('an empty list removes nothing unless allowed; allowed, it empties the audience', async () => {
		await mirror(storage, audience, people(4));
		const refused = await mirror(storage, audience, [], { maxRemoveShare: 1 });
		expect(refused.refusal).toMatchObject({ kind: 'emptyList', removing: 4, remembered: 4 });
		expect(audience.members.size).toBe(4);
		const emptied = await mirror(storage, audience, [], { allowEmptyList: true });
		expect(emptied).toMatchObject({ removed: 4, rememberedAfter: 0 });
		expect(audience.members.size).toBe(0);
		expect(emptied.refusal).toBeUndefined();
		// The audience was mirrored before: filling it again is no first run (forgetting the memory is).
		const refilled = await mirror(storage, audience, people(2));
		expect(refilled).toMatchObject({ firstRun: false, added: 2, removed: 0 });
		await storage.forget();
		expect(await mirror(storage, audience, people(2))).toMatchObject({ firstRun: true, added: 2 });
	});

	it('members left unconfirmed by a failed run are guarded by the safety limit like remembered ones', async () => {
		audience.lose = () => true; // TikTok applied every add, the node saw only failures
		const failed = await mirror(storage, audience, people(10));
		expect(failed).toMatchObject({ errored: 10, rememberedAfter: 0, unconfirmed: 10 });
		audience.lose = undefined;
		const broken = await mirror(storage, audience, people(2));
		expect(broken.refusal).toEqual({ kind: 'safetyLimit', removing: 8, remembered: 10, allowedShare: 0.5 });
		expect(audience.members.size).toBe(10);
		const empty = await mirror(storage, audience, [], { maxRemoveShare: 1 });
		expect(empty.refusal?.kind).toBe('emptyList');
		const repaired = await mirror(storage, audience, people(10));
		expect(repaired).toMatchObject({ added: 10, removed: 0, rememberedAfter: 10, unconfirmed: 0 });
	});

	it('after a first run TikTok refused entirely, the next run is no first run: it removes who left', async () => {
		audience.fail = () => new Error('refused');
		const failed = await mirror(storage, audience, people(10));
		expect(failed).toMatchObject({ firstRun: true, errored: 10, rememberedAfter: 0, unconfirmed: 10 });
		audience.fail = undefined;
		const next = await mirror(storage, audience, people(8));
		expect(next).toMatchObject({ firstRun: false, added: 8, removed: 2, rememberedAfter: 8, unconfirmed: 0 });
	});

	it('a dry run reports the difference and sends and remembers nothing', async () => {
		await mirror(storage, audience, people(10));
		const outcome = await mirror(storage, audience, [...people(8), ...people(5, 40)], { dryRun: true, collectUsers: true });
		expect(outcome).toMatchObject({ dryRun: true, added: 5, removed: 2, unchanged: 8, rememberedAfter: 13, requests: 0 });
		expect(outcome.users.filter((user) => user.status === 'dry_run')).toHaveLength(7);
		expect(audience.requests).toHaveLength(1);
		expect(await remembered()).toBe(10);
	});

	it('parts: adds go out as parts arrive, removes only after the last part', async () => {
		await mirror(storage, audience, people(30));
		const partKey = 'nightly-2026-12-03';
		const parts = [people(10), [...people(10, 10), ...people(5, 100)], people(5, 20)]; // 25–29 left, 100–104 joined
		const one = await mirror(storage, audience, parts[0], { partKey, lastPart: false });
		expect(one).toMatchObject({ parts: 1, lastPart: false, added: 0, removed: 0, requests: 0 });
		const two = await mirror(storage, audience, parts[1], { partKey, lastPart: false });
		expect(two).toMatchObject({ parts: 2, added: 5, removed: 0 });
		expect(audience.rows('delete')).toBe(0);
		expect(audience.members.size).toBe(35);
		const three = await mirror(storage, audience, parts[2], { partKey, lastPart: true });
		expect(three).toMatchObject({ parts: 3, lastPart: true, listed: 30, members: 30, added: 5, removed: 5, rememberedAfter: 30 });
		expect(audience.sorted()).toEqual(identifiersOf(parts.flat(), ['email']));
		// Its key is used up: a late part is refused rather than starting a mirror of one part.
		await expect(mirror(storage, audience, people(1), { partKey, lastPart: true })).rejects.toThrow(MirrorSessionError);
	});

	it('a last part stopped by the safety limit can be sent again with the option raised: its mirror still has its parts', async () => {
		await mirror(storage, audience, people(20));
		const partKey = 'shrunk-2026-12-04';
		await mirror(storage, audience, people(4), { partKey, lastPart: false });
		const refused = await mirror(storage, audience, people(4, 4), { partKey, lastPart: true });
		expect(refused.refusal).toMatchObject({ kind: 'safetyLimit', removing: 12, remembered: 20 });
		// As the message says: raise "Max Share to Remove" for one run (the last part again, same key).
		const allowed = await mirror(storage, audience, people(4, 4), { partKey, lastPart: true, maxRemoveShare: 1 });
		expect(allowed).toMatchObject({ parts: 2, members: 8, removed: 12, rememberedAfter: 8 });
		expect(audience.sorted()).toEqual(identifiersOf(people(8), ['email']));
		// Ended now: its key is used up.
		await expect(mirror(storage, audience, people(1), { partKey, lastPart: true })).rejects.toMatchObject({ kind: 'completed' });
	});

	it('a crash as the last part ends its mirror: that part sent again removes nobody of the earlier parts', async () => {
		await mirror(storage, audience, people(30));
		const partKey = 'nightly-2026-12-04';
		await mirror(storage, audience, people(15), { partKey, lastPart: false });
		// The process dies while it writes the mirror down as completed (everything was sent and remembered).
		const dying: MirrorStorage = Object.create(storage);
		dying.writeSession = async () => {
			throw new Error('process killed');
		};
		await expect(mirror(dying, audience, people(15, 15), { partKey, lastPart: true, maxRemoveShare: 1 })).rejects.toThrow('process killed');
		// The workflow runs the last part again: the earlier part still counts.
		const again = await mirror(storage, audience, people(15, 15), { partKey, lastPart: true, maxRemoveShare: 1 });
		expect(again).toMatchObject({ parts: 2, members: 30, removed: 0, added: 0, rememberedAfter: 30 });
		expect(audience.rows('delete')).toBe(0);
		expect(audience.sorted()).toEqual(identifiersOf(people(30), ['email']));
	});

	it('a mirror whose last part never comes is abandoned and removes nothing', async () => {
		await mirror(storage, audience, people(20));
		let clock = Date.parse('2026-12-03T02:00:00Z');
		const now = () => clock;
		await mirror(storage, audience, [...people(5), ...people(2, 90)], { partKey: 'stuck', lastPart: false, now, abandonAfterMs: 3_600_000 });
		expect(audience.members.size).toBe(22); // its adds went out

		clock += 2 * 3_600_000;
		const next = await mirror(storage, audience, people(20), { now, partKey: 'the next night' });
		expect(next.abandoned).toEqual([{ partKey: 'stuck', startedAt: Date.parse('2026-12-03T02:00:00Z'), parts: 1 }]);
		expect(next).toMatchObject({ removed: 2, added: 0 }); // only the two the stuck mirror added are gone: it is its own list
		const late = mirror(storage, audience, people(5), { partKey: 'stuck', lastPart: true, now });
		await expect(late).rejects.toMatchObject({ kind: 'abandoned' });
		expect(audience.sorted()).toEqual(identifiersOf(people(20), ['email']));
	});

	it('an abandoned mirror removes nothing even when nothing else ran', async () => {
		await mirror(storage, audience, people(10));
		let clock = 1_000_000;
		await mirror(storage, audience, people(3), { partKey: 'p', lastPart: false, now: () => clock, abandonAfterMs: 1_000 });
		clock += 5_000;
		await expect(mirror(storage, audience, people(3, 3), { partKey: 'p', lastPart: true, now: () => clock })).rejects.toMatchObject({
			kind: 'abandoned',
		});
		expect(audience.rows('delete')).toBe(0);
		expect(await remembered()).toBe(10);
	});

	it('Fields to Match gains a field: members are replaced, not counted as leaving; the memory drops a type once unused', async () => {
		const list = people(10, 0, true);
		await mirror(storage, audience, list, { fields: ['email'] });
		const widened = await mirror(storage, audience, list, { fields: ['email', 'phone'] });
		expect(widened.refusal).toBeUndefined();
		expect(widened).toMatchObject({ removed: 10, changed: 10, added: 10, rememberedAfter: 10 });
		expect(audience.sorted()).toEqual(identifiersOf(list, ['email', 'phone']));

		const narrowed = await mirror(storage, audience, list, { fields: ['email'], maxRemoveShare: 1 });
		expect(narrowed).toMatchObject({ removed: 10, added: 10, rememberedAfter: 10 });
		expect(audience.sorted()).toEqual(identifiersOf(list, ['email']));
		const memory = await MirrorMemory.open(storage);
		expect(memory.layout?.types).toEqual(['EMAIL_SHA256']);
	});

	it('Fields to Match gains a field in a mirror of parts: its members are replaced, none counted as leaving', async () => {
		const list = people(30, 0, true);
		await mirror(storage, audience, list, { fields: ['email'] });
		const fields: Array<'email' | 'phone'> = ['email', 'phone'];
		const partKey = 'widened';
		await mirror(storage, audience, list.slice(0, 10), { fields, partKey, lastPart: false });
		await mirror(storage, audience, list.slice(10, 20), { fields, partKey, lastPart: false });
		const last = await mirror(storage, audience, list.slice(20), { fields, partKey, lastPart: true, maxRemoveShare: 0.1 });
		expect(last.refusal).toBeUndefined();
		// As in one run: 30 replaced (old tuple removed, new added), nobody unchanged.
		expect(last).toMatchObject({ members: 30, unchanged: 0, added: 30, removed: 30, changed: 30, rememberedAfter: 30 });
		expect(audience.sorted()).toEqual(identifiersOf(list, fields));
	});

	it('a mirror in parts is held to the safety limit against what was remembered when it started', async () => {
		await mirror(storage, audience, people(100));
		// A broken query returns 300 other people, in three parts: their adds go out, but nobody may be removed.
		const partKey = 'wrong-query';
		await mirror(storage, audience, people(100, 1000), { partKey, lastPart: false });
		await mirror(storage, audience, people(100, 2000), { partKey, lastPart: false });
		const last = await mirror(storage, audience, people(100, 3000), { partKey, lastPart: true });
		expect(last.refusal).toEqual({ kind: 'safetyLimit', removing: 100, remembered: 100, allowedShare: 0.5 });
		expect(audience.rows('delete')).toBe(0);
	});

	it('a part with other Fields to Match than its mirror is refused', async () => {
		await mirror(storage, audience, people(3), { partKey: 'k', lastPart: false });
		await expect(mirror(storage, audience, people(3, 0, true), { partKey: 'k', lastPart: true, fields: ['email', 'phone'] })).rejects.toMatchObject({
			kind: 'fieldsChanged',
		});
	});

	it('forget: the next run is a first run again and removes nothing', async () => {
		await mirror(storage, audience, people(10));
		await storage.forget();
		const outcome = await mirror(storage, audience, people(3));
		expect(outcome).toMatchObject({ firstRun: true, removed: 0, added: 3, rememberedAfter: 3 });
		expect(audience.members.size).toBe(10); // the others came from elsewhere now: a mirror never removes them
	});

	it('random lists, random failures: after each clean run the audience equals the list', async () => {
		let seed = 42;
		const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
		const pool = people(60, 0, true);
		for (let round = 0; round < 12; round++) {
			const list = pool.filter(() => random() < 0.6).map((person) => (random() < 0.1 ? { ...person, phone: `+1999${Math.floor(random() * 1e6)}` } : person));
			audience.fail = (_request, index) => (random() < 0.3 ? new Error(`failure ${index}`) : undefined);
			audience.lose = () => random() < 0.1;
			await mirror(storage, audience, list, { fields: ['email', 'phone'], maxRemoveShare: 1, usersPerRequest: 7 }).catch(() => undefined);
			audience.fail = undefined;
			audience.lose = undefined;
			const clean = await mirror(storage, audience, list, { fields: ['email', 'phone'], maxRemoveShare: 1, usersPerRequest: 7 });
			expect(clean.errored).toBe(0);
			expect(audience.sorted()).toEqual(identifiersOf(list, ['email', 'phone']));
			expect(await remembered()).toBe(clean.members);
		}
	});

	it('random crashes at any write of a mirror in parts: each part sent again, the audience equals the list after the last', async () => {
		let seed = 7;
		const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
		const fields: Array<'email' | 'phone'> = ['email', 'phone'];
		const pool: Person[] = Array.from({ length: 60 }, (_, i) => ({ email: `user${i}@example.com`, ...(random() < 0.5 ? { phone: `+1415${i % 20}` } : {}) }));
		await mirror(storage, audience, pool, { fields });
		for (let round = 0; round < 10; round++) {
			const list = pool.filter(() => random() < 0.8);
			const parts = [list.slice(0, 20), list.slice(20, 40), list.slice(40)];
			const options = { fields, maxRemoveShare: 1, usersPerRequest: 6, partKey: `night ${round}` };
			for (const [index, part] of parts.entries()) {
				const lastPart = index === parts.length - 1;
				// The process dies at a random write (a torn append on disk, sometimes), and the workflow runs the part again.
				const dying = crashingStore(storage, 1 + Math.floor(random() * 6), random() < 0.7);
				await mirror(dying, audience, part, { ...options, lastPart }).catch((error: Error) => {
					if (!(error instanceof Crash)) throw error;
				});
				await mirror(storage, audience, part, { ...options, lastPart }).catch((error: MirrorSessionError) => {
					if (!(lastPart && error.kind === 'completed')) throw error; // it had ended before the crash
				});
			}
			expect({ round, audience: audience.sorted() }).toEqual({ round, audience: identifiersOf(list, fields) });
		}
	});
});
