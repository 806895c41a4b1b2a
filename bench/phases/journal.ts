/**
 * Journal growth: what n8n does with workflow static data at every execution end, at 10,000 … 1,000,000 pending
 * users. The node writes the coordinator's journal into static data (writeJournals → exportJournal), n8n serialises
 * the whole static data into the database row (JSON.stringify) and reads it back at the next execution (JSON.parse).
 */
import type { IDataObject } from 'n8n-workflow';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';

import type { SyncCoordinator } from '../../nodes/TikTokBatchSync/engine';
import { liveNodeNames, scopeName, writeJournals } from '../../nodes/TikTokBatchSync/journalStore';
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
	/** export + stringify + parse: what each execution end costs while this backlog waits. */
	perExecutionMs: number;
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
async function backlog(users: number): Promise<SyncCoordinator> {
	const coordinator = newTikTokCoordinator({ clock: frozenClock });
	const scope = scopeName(WORKFLOW, NODE);
	for (let start = 0; start < users; start += 10_000) {
		await coordinator.submit({
			scope,
			destination: BENCH_DESTINATION,
			users: quickHashedUsers(start, Math.min(10_000, users - start)),
			send: neverCalled,
			pacer: blockedPacer,
			settings: { maxPendingUsers: users, windowMs: 5_000 },
			waitForDelivery: false,
		});
	}
	return coordinator;
}

function timeMs(run: () => void): number {
	const started = wallNow();
	run();
	return wallNow() - started;
}

export async function runJournal(_urls: ServerUrls, args: JournalArgs): Promise<JournalResult> {
	liveNodeNames(WORKFLOW).add(NODE);
	const points: JournalPoint[] = [];
	for (const users of args.sizes) {
		const coordinator = await backlog(users);
		const exportFirstMs = timeMs(() => writeJournals({}, WORKFLOW, coordinator));
		const exportMs: number[] = [];
		const stringifyMs: number[] = [];
		const parseMs: number[] = [];
		let bytes = 0;
		for (let repeat = 0; repeat < args.repeats; repeat++) {
			const staticData: IDataObject = {};
			exportMs.push(timeMs(() => writeJournals(staticData, WORKFLOW, coordinator)));
			// n8n keeps global static data under "global" in the workflow's staticData column.
			let text = '';
			stringifyMs.push(timeMs(() => (text = JSON.stringify({ global: staticData }))));
			parseMs.push(timeMs(() => JSON.parse(text)));
			bytes = Buffer.byteLength(text);
		}
		coordinator.reset();
		const point: JournalPoint = {
			pendingUsers: users,
			bytes,
			bytesPerUser: bytes / users,
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
