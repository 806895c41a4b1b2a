/**
 * The two stores' own promises: where the disk store lives, what it does with a crash's leftovers (a torn log
 * entry, a half-written snapshot, a damaged file), the Redis store's size and its refusal to let a stale process
 * write, and the locks that keep two runs of one audience apart.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';

import Redis from 'ioredis';

import {
	DiskMirrorPlace,
	FileMirrorStorage,
	mirrorFolder,
	MirrorMemory,
	mirrorNameOf,
	RedisMirrorPlace,
	RedisMirrorStorage,
	encodeEntry,
	sessionIdOf,
	withFileLock,
} from '../../nodes/shared/mirror';
import { LockWaitTimeoutError } from '../../nodes/shared/redis/lock';
import { TEST_REDIS } from '../harness/engine';
import { deleteKeysUnder, keysUnder } from '../harness/redisKeys';
import { AudienceModel, diskStorages, identifiersOf, layoutFor, membersOf, mirror, people, redisHandle } from './harness';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('where the memory is kept', () => {
	it("regular n8n: tiktok-audience-sync/mirrors in n8n's data folder (<N8N_USER_FOLDER>/.n8n, default the home folder)", () => {
		expect(mirrorFolder({ N8N_USER_FOLDER: '/data' })).toBe(join('/data', '.n8n', 'tiktok-audience-sync', 'mirrors'));
		expect(mirrorFolder({ HOME: '/home/node' })).toBe(join('/home/node', '.n8n', 'tiktok-audience-sync', 'mirrors'));
		expect(mirrorFolder({ HOME: '/home/node', N8N_TIKTOK_SYNC_MIRROR_FOLDER: '/srv/mirrors' })).toBe('/srv/mirrors');
	});

	it('one folder per audience, named by a digest, with an about.json saying which audience it is', async () => {
		const root = await fs.mkdtemp(join(process.env.TIKTOK_TEST_TMP ?? '/tmp', 'place-'));
		const place = new DiskMirrorPlace(root);
		const mirrorId = { baseUrl: 'https://business-api.tiktok.com', advertiserId: '7012345678901234567', audienceId: '1790000000000001' };
		await mirror(place.storageFor(mirrorId), new AudienceModel(), people(3));
		const about = JSON.parse(await fs.readFile(join(root, mirrorNameOf(mirrorId), 'about.json'), 'utf8'));
		expect(about).toMatchObject(mirrorId);
		const files = await fs.readdir(join(root, mirrorNameOf(mirrorId)));
		// The first run's changes are still in the log: it is folded into the snapshot once it is big.
		expect(files.sort()).toEqual(['about.json', 'log-1.bin', 'sessions.json', 'snapshot.bin']);
		// Only hashes on disk: no email in any file.
		for (const file of files) expect(await fs.readFile(join(root, mirrorNameOf(mirrorId), file), 'latin1')).not.toMatch(/example\.com/);
	});
});

describe('disk store after a crash', () => {
	const kind = diskStorages();
	afterEach(async () => await kind.cleanup());

	it('a torn last log entry is ignored and cut before the next entry is written', async () => {
		const storage = kind.make() as FileMirrorStorage;
		const audience = new AudienceModel();
		await mirror(storage, audience, people(5));
		const memory = await MirrorMemory.open(storage);
		await memory.commit('add', Buffer.alloc(32, 7), 1);
		const logs = (await fs.readdir(storage.dir)).filter((name) => name.startsWith('log-'));
		expect(logs).toHaveLength(1);
		// Half of a second entry, as a crash in the middle of a write leaves it.
		await fs.appendFile(join(storage.dir, logs[0]), Buffer.from([0x31, 0x47, 0x4c, 0x4d, 0, 0, 0, 0, 5]));
		const reopened = await MirrorMemory.open(storage);
		expect(await reopened.count()).toBe(6);
		await reopened.commit('add', Buffer.alloc(32, 9), 1);
		expect(await (await MirrorMemory.open(storage)).count()).toBe(7);
	});

	it('a part torn by a crash while it was staged, then sent again: the last part sees it and every later part', async () => {
		const storage = kind.make() as FileMirrorStorage;
		const audience = new AudienceModel();
		await mirror(storage, audience, people(12));
		const partKey = 'nightly-2026-12-05';
		await mirror(storage, audience, people(4), { partKey, lastPart: false });
		// The second part's staging was cut short by a crash: half of its entry is on disk.
		const second = membersOf(layoutFor(['email']), people(4, 4));
		const entry = encodeEntry({ op: 'part', records: second.records(), count: second.count });
		await fs.appendFile(join(storage.dir, `part-${sessionIdOf(partKey, false)}.bin`), entry.subarray(0, entry.length >> 1));
		// The workflow sends that part again, then the last one.
		await mirror(storage, audience, people(4, 4), { partKey, lastPart: false });
		const last = await mirror(storage, audience, people(4, 8), { partKey, lastPart: true, maxRemoveShare: 1 });
		expect(last).toMatchObject({ members: 12, removed: 0, rememberedAfter: 12 });
		expect(audience.rows('delete')).toBe(0);
		expect(audience.sorted()).toEqual(identifiersOf(people(12), ['email']));
	});

	it('a snapshot half-written by a crash is left aside; a damaged snapshot is reported, never half-used', async () => {
		const storage = kind.make() as FileMirrorStorage;
		const audience = new AudienceModel();
		await mirror(storage, audience, people(5));
		await (await MirrorMemory.open(storage)).compact(undefined, true);
		await fs.writeFile(join(storage.dir, 'snapshot.bin.tmp-deadbeef'), Buffer.alloc(100, 1));
		expect(await (await MirrorMemory.open(storage)).count()).toBe(5);
		await mirror(storage, audience, people(6));
		await (await MirrorMemory.open(storage)).compact(undefined, true);
		expect((await fs.readdir(storage.dir)).some((name) => name.includes('.tmp-'))).toBe(false);

		const bytes = await fs.readFile(join(storage.dir, 'snapshot.bin'));
		bytes[bytes.length - 1] ^= 0xff;
		await fs.writeFile(join(storage.dir, 'snapshot.bin'), bytes);
		const requests = audience.requests.length;
		await expect(mirror(storage, audience, people(2))).rejects.toThrow(/does not match its checksum/);
		expect(audience.requests).toHaveLength(requests);
	});
});

describe('Redis store', () => {
	let prefix: string;
	let cleaner: Redis;
	beforeEach(() => {
		prefix = `tts-mirror-${randomUUID().slice(0, 8)}`;
		cleaner = new Redis(TEST_REDIS);
	});
	afterEach(async () => {
		await deleteKeysUnder(cleaner, prefix);
		await cleaner.quit();
	});

	it('keeps a few keys per mirror and about 32 bytes per email member, under its prefix only', async () => {
		const handle = redisHandle(prefix);
		try {
			const storage = new RedisMirrorStorage(handle, 'm1');
			await mirror(storage, new AudienceModel(), people(30_000));
			// The log is folded into the snapshot once it is big (here: the first run's 60,000 entries).
			const keys = await keysUnder(cleaner, prefix);
			expect(keys.every((key) => key.startsWith(`${prefix}:{mirror:`))).toBe(true);
			let bytes = 0;
			for (const key of keys) bytes += Number(await cleaner.memory('USAGE', key));
			expect(keys.length).toBeLessThanOrEqual(3); // meta, sessions, one 960 KB segment
			expect(bytes / 30_000).toBeLessThan(40);
		} finally {
			handle.client.disconnect();
		}
	});

	it('a process that lost the lock cannot write into the memory another process moved on', async () => {
		const [a, b] = [redisHandle(prefix), redisHandle(prefix)];
		try {
			await mirror(new RedisMirrorStorage(a, 'm'), new AudienceModel(), people(3));
			const stalled = await MirrorMemory.open(new RedisMirrorStorage(a, 'm'));
			// Meanwhile another process mirrors and folds the log into a new snapshot (generation 2).
			await mirror(new RedisMirrorStorage(b, 'm'), new AudienceModel(), people(4));
			await (await MirrorMemory.open(new RedisMirrorStorage(b, 'm'))).compact(undefined, true);
			// The stalled one still believes in generation 1: its commit must fail, not land in a log nobody reads.
			await expect(stalled.commit('add', Buffer.alloc(32, 1), 1)).rejects.toThrow(/changed by another process/);
			expect(await (await MirrorMemory.open(new RedisMirrorStorage(b, 'm'))).count()).toBe(4);
		} finally {
			a.client.disconnect();
			b.client.disconnect();
		}
	});

	it('forget deletes every key of the mirror, staged parts included', async () => {
		const handle = redisHandle(prefix);
		try {
			const storage = new RedisMirrorStorage(handle, 'm');
			await mirror(storage, new AudienceModel(), people(10));
			await mirror(storage, new AudienceModel(), people(5), { partKey: 'k', lastPart: false });
			expect((await keysUnder(cleaner, prefix)).length).toBeGreaterThan(2);
			await storage.forget();
			expect(await keysUnder(cleaner, prefix)).toEqual([]);
		} finally {
			handle.client.disconnect();
		}
	});

	it('two places (two workers) on one Redis run mirrors of one audience one at a time', async () => {
		const [a, b] = [redisHandle(prefix), redisHandle(prefix)];
		try {
			const places = [new RedisMirrorPlace(a), new RedisMirrorPlace(b)];
			const target = { baseUrl: 'http://127.0.0.1:1', advertiserId: '70123', audienceId: '179' };
			const audience = new AudienceModel();
			let inside = 0;
			let most = 0;
			const ran: number[] = [];
			const lists = [people(50), people(60), people(40, 10), people(70)];
			await Promise.all(
				lists.map((list, index) =>
					places[index % 2].withLock(target, async () => {
						inside++;
						most = Math.max(most, inside);
						ran.push(index);
						try {
							return await mirror(places[index % 2].storageFor(target), audience, list, { maxRemoveShare: 1 });
						} finally {
							inside--;
						}
					}),
				),
			);
			expect(most).toBe(1);
			// Whichever ran last is what is remembered, exactly.
			const lastList = lists[ran[ran.length - 1]];
			expect(audience.sorted()).toEqual(identifiersOf(lastList, ['email']));
			const last = await mirror(places[0].storageFor(target), audience, people(70), { maxRemoveShare: 1 });
			expect(last).toMatchObject({ rememberedBefore: lastList.length, unchanged: lastList.filter((p) => Number(/\d+/.exec(p.email!)![0]) < 70).length });
			expect(audience.sorted()).toEqual(identifiersOf(people(70), ['email']));
		} finally {
			a.client.disconnect();
			b.client.disconnect();
		}
	});
});

describe('file lock', () => {
	let root: string;
	beforeEach(async () => {
		root = await fs.mkdtemp(join(process.env.TIKTOK_TEST_TMP ?? '/tmp', 'lock-'));
	});

	it('runs of one audience in one process take turns, and the lock file is gone after', async () => {
		const path = join(root, 'a.lock');
		let inside = 0;
		let most = 0;
		const order: number[] = [];
		await Promise.all(
			[0, 1, 2, 3].map((n) =>
				withFileLock(path, async () => {
					inside++;
					most = Math.max(most, inside);
					await sleep(20);
					order.push(n);
					inside--;
				}),
			),
		);
		expect(most).toBe(1);
		expect(order).toEqual([0, 1, 2, 3]);
		await expect(fs.stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
	});

	it('a lock held by another process is waited for, then given up on with a clear message', async () => {
		const path = join(root, 'b.lock');
		await fs.writeFile(path, JSON.stringify({ token: 'someone else', pid: 1 }));
		const started = Date.now();
		const holder = setInterval(() => void fs.utimes(path, new Date(), new Date()).catch(() => undefined), 50);
		try {
			await expect(withFileLock(path, async () => 'ran', { waitMs: 300, staleMs: 5_000, what: 'the mirror of audience 179' })).rejects.toThrow(
				LockWaitTimeoutError,
			);
			expect(Date.now() - started).toBeGreaterThanOrEqual(290);
		} finally {
			clearInterval(holder);
		}
		await expect(withFileLock(path, async () => 'ran', { waitMs: 100, staleMs: 5_000 })).rejects.toThrow(/Another run has been working on this mirror/);
	});

	it('a lock file nobody touches any more (its process died) is taken over', async () => {
		const path = join(root, 'c.lock');
		await fs.writeFile(path, JSON.stringify({ token: 'dead', pid: 999999 }));
		const past = new Date(Date.now() - 60_000);
		await fs.utimes(path, past, past);
		expect(await withFileLock(path, async () => 'ran', { waitMs: 2_000, staleMs: 1_000 })).toBe('ran');
	});

	it('the disk place locks per audience: two audiences do not wait for each other', async () => {
		const place = new DiskMirrorPlace(root);
		const one = { baseUrl: 'x', advertiserId: '1', audienceId: '1' };
		const two = { baseUrl: 'x', advertiserId: '1', audienceId: '2' };
		let release!: () => void;
		const held = place.withLock(one, () => new Promise<void>((resolve) => (release = resolve)));
		expect(await place.withLock(two, async () => 'free')).toBe('free');
		release();
		await held;
	});
});
