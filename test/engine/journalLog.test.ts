/**
 * The journal file (engine/journalLog.ts) against the engine's own view: after any sequence of appends, with
 * rewrites in between, reading the file back gives the users and counters exportJournal gives.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { JournalLog, readJournalFile, SyncCoordinator, type Clock, type Journal } from '../../nodes/TikTokBatchSync/engine';
import { decodeGroupIds } from '../../nodes/TikTokBatchSync/engine/journal';
import { JOURNAL_COMPACT_MIN_BYTES } from '../../nodes/TikTokBatchSync/engine/limits';
import { EMAIL_DESTINATION, emailUsers } from '../harness/engine';

const SCOPE = 'wf:Batch';
/** Timers never fire: windows close only when full, nothing is retried. */
const frozen: Clock = { now: () => Date.now(), setTimeout: () => ({}), clearTimeout: () => undefined };
const blocked = { acquire: () => new Promise<void>(() => undefined) };

function idsOf(journal: Journal): string[] {
	return journal.queues.flatMap((queue) => queue.groups.flatMap((group) => decodeGroupIds(group, queue.destination.idSchema.length)[0] as string[])).sort();
}

let folder: string;
beforeEach(() => (folder = mkdtempSync(join(tmpdir(), 'tiktok-journal-log-'))));
afterEach(() => rmSync(folder, { recursive: true, force: true }));

it('appends of forming and sealed requests, and the rewrite when appends outgrow the file, read back as the engine holds them', async () => {
	const coordinator = new SyncCoordinator({ requestCapacity: 10_000, clock: frozen });
	const path = join(folder, 'journal.jsonl');
	const log = new JournalLog(path, 'Batch');
	const save = () => log.append(coordinator.unsettledChunks(SCOPE), coordinator.report(SCOPE), { requestsPerSecond: 50 });
	let sizeBefore = 0;
	let rewritten = false;
	// 300 executions of 100 users: forming requests grow, seal at 10,000 and queue behind a pacer that never grants.
	for (let run = 0; run < 300; run++) {
		await coordinator.submit({
			scope: SCOPE,
			destination: EMAIL_DESTINATION,
			users: emailUsers(100, run * 100),
			send: async () => undefined,
			pacer: blocked,
			settings: { windowMs: 60_000, maxPendingUsers: 100_000 },
			waitForDelivery: false,
		});
		save();
		const size = statSync(path).size;
		if (size < sizeBefore) rewritten = true;
		sizeBefore = size;
		if (run % 37 === 0) save(); // an execution end that changed nothing writes nothing
	}
	expect(rewritten).toBe(true);
	expect(JOURNAL_COMPACT_MIN_BYTES).toBeLessThan(30_000 * 70);
	const onDisk = readJournalFile(path);
	const engine = coordinator.exportJournal(SCOPE);
	expect(onDisk?.node).toBe('Batch');
	expect(onDisk?.profile).toEqual({ requestsPerSecond: 50 });
	expect(onDisk?.journal.counters).toEqual(engine.counters);
	expect(idsOf(onDisk!.journal)).toEqual(idsOf(engine));
	expect(idsOf(engine)).toHaveLength(30_000);
	log.close();
	coordinator.reset();
});

it('requests settled since the last append are gone from the file; the counters say where they went', async () => {
	const coordinator = new SyncCoordinator({ requestCapacity: 10_000 });
	const path = join(folder, 'journal.jsonl');
	const log = new JournalLog(path, 'Batch');
	const save = () => log.append(coordinator.unsettledChunks(SCOPE), coordinator.report(SCOPE), undefined);
	let release: () => void = () => undefined;
	const held = new Promise<void>((resolve) => (release = resolve));
	const submitted = coordinator.submit({
		scope: SCOPE,
		destination: EMAIL_DESTINATION,
		users: emailUsers(50),
		send: async () => held,
		pacer: { acquire: async () => undefined },
		settings: { windowMs: 0 },
		waitForDelivery: true,
	});
	await new Promise((resolve) => setTimeout(resolve, 20));
	save();
	expect(idsOf(readJournalFile(path)!.journal)).toHaveLength(50);
	release();
	await submitted;
	save();
	const onDisk = readJournalFile(path)!.journal;
	expect(onDisk.queues.flatMap((queue) => queue.groups)).toEqual([]);
	expect(onDisk.counters).toMatchObject({ entered: 50, synced: 50, pending: 0 });
	log.close();
	coordinator.reset();
});
