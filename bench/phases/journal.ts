/**
 * The journal's cost at an execution end, by users pending.
 *
 * Now (regular mode): the node appends what changed to the scope's journal file (JournalLog.append). Measured per
 * execution end that brought one new user, and per execution end that changed nothing for the pending users; plus
 * the whole rewrite (snapshot) a process does once when it takes the scope back.
 *
 * Before (earlier builds, workflow static data): the node wrote the coordinator's whole journal into static data
 * (exportJournal), n8n serialised the whole static data into the database row (JSON.stringify) and read it back at the
 * next execution (JSON.parse): O(pending users) at every execution end.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { IDataObject } from 'n8n-workflow';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

import { JournalLog, type SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { scopeName, STATIC_DATA_KEY } from '../../nodes/TikTokBatchSync/journalStore';
import type { ServerUrls } from '../lib/local';
import { BENCH_DESTINATION, blockedPacer, frozenClock, neverCalled } from '../lib/engine';
import { median, wallNow } from '../lib/stats';
import { quickHashedUsers } from '../lib/users';

export interface JournalArgs {
	sizes: number[];
	repeats: number;
	/** Per-execution-end budget that defines "reasonable" (export + stringify + parse), in ms. */
	budgetMs: number;
}

export interface JournalPoint {
	pendingUsers: number;
	bytes: number;
	bytesPerUser: number;
	/** The first writeJournals over this backlog: packs the queued requests' ids into bytes (once per request). */
	exportFirstMs: number;
	/** Every later writeJournals (the ids are bytes already): the steady cost. */
	exportMs: number;
	stringifyMs: number;
	parseMs: number;
	/** export + stringify + parse: what each execution end cost while this backlog waited (before). */
	perExecutionMs: number;
	/** Now: the journal file's append at an execution end that brought one new user (median, µs). */
	appendOneUserUs: number;
	/** Now: the append at an execution end that changed nothing for the pending users (median, µs). */
	appendNothingUs: number;
	/** Now: bytes appended per execution end with one new user (median). */
	appendBytes: number;
	/** Now: the file rewritten whole (once per process, when it takes the scope back; and when appends outgrow it). */
	snapshotMs: number;
	fileBytes: number;
}

export interface JournalResult {
	points: JournalPoint[];
	budgetMs: number;
	/** Backlog whose per-execution cost reaches the budget (linear in users, fitted on the largest size). */
	reasonableLimitUsers: number;
	reasonableLimitBytes: number;
}

const WORKFLOW = 'wf-bench-journal';
const NODE = 'TikTok Batch Sync';

/** A backlog queued behind a pacer that never grants a slot (as behind a long rate-limit pause). */
const SCOPE = scopeName(WORKFLOW, NODE);
/** Executions of one new user each, after the backlog (their users are not counted in the backlog's size). */
const EXECUTION_ENDS = 300;

async function submit(coordinator: SyncCoordinator, start: number, count: number, maxPendingUsers: number): Promise<void> {
	await coordinator.submit({
		scope: SCOPE,
		destination: BENCH_DESTINATION,
		users: quickHashedUsers(start, count),
		send: neverCalled,
		pacer: blockedPacer,
		settings: { maxPendingUsers, windowMs: 5_000 },
		waitForDelivery: false,
	});
}

async function backlog(users: number): Promise<SyncCoordinator> {
	const coordinator = newTikTokCoordinator({ clock: frozenClock });
	for (let start = 0; start < users; start += 10_000) await submit(coordinator, start, Math.min(10_000, users - start), users + EXECUTION_ENDS);
	return coordinator;
}

/** The static data the node wrote before: the whole journal of the scope under one key. */
function staticDataJournal(coordinator: SyncCoordinator): IDataObject {
	return { [STATIC_DATA_KEY]: { version: 1, nodes: { [NODE]: coordinator.exportJournal(SCOPE) } } } as unknown as IDataObject;
}

/** Now: the file's rewrite, then EXECUTION_ENDS appends after one new user each, and as many with nothing new. */
async function appendCosts(coordinator: SyncCoordinator, users: number): Promise<Pick<JournalPoint, 'appendOneUserUs' | 'appendNothingUs' | 'appendBytes' | 'snapshotMs' | 'fileBytes'>> {
	const folder = mkdtempSync(join(tmpdir(), 'tiktok-bench-journal-'));
	const path = join(folder, 'journal.jsonl');
	try {
		const log = new JournalLog(path, NODE);
		const save = () => log.append(coordinator.unsettledChunks(SCOPE), coordinator.report(SCOPE), undefined);
		const snapshotMs = timeMs(() => log.snapshot(coordinator.unsettledChunks(SCOPE), coordinator.report(SCOPE), undefined));
		const fileBytes = statSync(path).size;
		const oneUser: number[] = [];
		const nothing: number[] = [];
		const bytes: number[] = [];
		for (let i = 0; i < EXECUTION_ENDS; i++) {
			await submit(coordinator, users + i, 1, users + EXECUTION_ENDS);
			const before = statSync(path).size;
			oneUser.push(timeMs(save) * 1000);
			bytes.push(statSync(path).size - before);
			nothing.push(timeMs(save) * 1000);
		}
		log.close();
		return { appendOneUserUs: median(oneUser), appendNothingUs: median(nothing), appendBytes: median(bytes), snapshotMs, fileBytes };
	} finally {
		rmSync(folder, { recursive: true, force: true });
	}
}

function timeMs(run: () => void): number {
	const started = wallNow();
	run();
	return wallNow() - started;
}

export async function runJournal(_urls: ServerUrls, args: JournalArgs): Promise<JournalResult> {
	const points: JournalPoint[] = [];
	for (const users of args.sizes) {
		const coordinator = await backlog(users);
		const exportFirstMs = timeMs(() => staticDataJournal(coordinator));
		const exportMs: number[] = [];
		const stringifyMs: number[] = [];
		const parseMs: number[] = [];
		let bytes = 0;
		for (let repeat = 0; repeat < args.repeats; repeat++) {
			let staticData: IDataObject = {};
			exportMs.push(timeMs(() => (staticData = staticDataJournal(coordinator))));
			// n8n keeps global static data under "global" in the workflow's staticData column.
			let text = '';
			stringifyMs.push(timeMs(() => (text = JSON.stringify({ global: staticData }))));
			parseMs.push(timeMs(() => JSON.parse(text)));
			bytes = Buffer.byteLength(text);
		}
		const now = await appendCosts(coordinator, users);
		coordinator.reset();
		const point: JournalPoint = {
			...now,
			pendingUsers: users,
			bytes,
			bytesPerUser: users > 0 ? bytes / users : 0,
			exportFirstMs,
			exportMs: median(exportMs),
			stringifyMs: median(stringifyMs),
			parseMs: median(parseMs),
			perExecutionMs: 0,
		};
		point.perExecutionMs = point.exportMs + point.stringifyMs + point.parseMs;
		points.push(point);
	}
	const largest = points[points.length - 1];
	const msPerUser = largest.perExecutionMs / largest.pendingUsers;
	const reasonableLimitUsers = Math.floor(args.budgetMs / msPerUser);
	return {
		points,
		budgetMs: args.budgetMs,
		reasonableLimitUsers,
		reasonableLimitBytes: Math.round(reasonableLimitUsers * largest.bytesPerUser),
	};
}
