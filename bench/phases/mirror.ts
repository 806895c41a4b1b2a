import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import Redis from 'ioredis';

import type { MatchField } from '../../nodes/shared/identifiers/fields';
import { FileMirrorStorage, hashList, mirrorPart, RedisMirrorStorage, type MirrorStorage } from '../../nodes/shared/mirror';
import { openRedis } from '../../nodes/shared/redis/client';
import { selectSyncMode } from '../../nodes/shared/redis/settings';
import { TikTokClient } from '../../nodes/shared/transport/client';
import { buildMappingRequest } from '../../nodes/shared/transport/mapping';
import { deleteKeysUnder, keysUnder } from '../../test/harness/redisKeys';
import { ADVERTISER_ID, connectionFor, resetServer, serverStats, type ServerUrls } from '../lib/local';
import { emailOf, PHONE_DEFAULT_COUNTRY, phoneOf } from '../lib/users';

/**
 * Mirror List on a list of 1,000,000 members, in two steps, each in a fresh process: `prime` mirrors the list once
 * (the first run: everyone added), `run` mirrors it again with a share of it replaced (some left, as many joined)
 * and measures that run: CPU and wall time of the package's own work (normalise + hash into member records, then
 * the comparison, the requests for the changes and the memory's commit and new snapshot), peak extra memory (process
 * RSS sampled from a worker thread every 2 ms, over the RSS after GC with the raw list already in memory, as n8n's
 * items would be), what the memory costs per member, and what reached the local TikTok API.
 */

export interface MirrorArgs {
	step: 'prime' | 'run';
	store: 'disk' | 'redis';
	fields: Array<'email' | 'phone'>;
	members: number;
	/** Share of the list replaced in the measured run: this share leaves, as many new users join. */
	replaced: number;
	/** The disk folder or Redis key prefix (the same for both steps). */
	location: string;
	audienceId?: string;
}

export interface MirrorResult {
	step: 'prime' | 'run';
	store: 'disk' | 'redis';
	fields: string[];
	members: number;
	audienceId: string;
	/** CPU (user + system, GC included) of normalise + hash into records, and of mirrorPart (compare, send, commit, snapshot). */
	hashCpuMs: number;
	mirrorCpuMs: number;
	totalCpuMs: number;
	wallMs: number;
	/** Wall time of the comparison alone (open the memory and compare, before the first request). */
	compareWallMs: number;
	peakExtraBytes: number;
	outcome: { added: number; removed: number; unchanged: number; rememberedAfter: number; requests: number };
	api: { requests: number; usersAdded: number; usersDeleted: number; memberCount: number };
	storeBytes: number;
	storeBytesPerMember: number;
}

function cpuMs(): number {
	const usage = process.cpuUsage();
	return (usage.user + usage.system) / 1000;
}

/** Samples the process's RSS from a worker thread (the main thread is busy in the comparison). */
function rssSampler(): { stop: () => Promise<number> } {
	const worker = new Worker(
		`const { parentPort } = require('node:worker_threads');
		let peak = 0;
		const timer = setInterval(() => { const rss = process.memoryUsage.rss(); if (rss > peak) peak = rss; }, 2);
		parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(peak); });`,
		{ eval: true },
	);
	return {
		stop: () =>
			new Promise<number>((resolve) => {
				worker.once('message', (peak: number) => {
					void worker.terminate();
					resolve(peak);
				});
				worker.postMessage('stop');
			}),
	};
}

function redisTarget(prefix: string) {
	const mode = selectSyncMode({ N8N_TIKTOK_SYNC_REDIS: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379', N8N_TIKTOK_SYNC_REDIS_PREFIX: prefix }, [
		'node',
		'n8n',
		'worker',
	]);
	if (mode.kind !== 'redis') throw new Error('expected Redis mode');
	return mode.target;
}

/** The measured list: member n is user n, except the last `replaced` share, which are users never seen before. */
function listOf(args: MirrorArgs): number[] {
	const ids = Array.from({ length: args.members }, (_, i) => i);
	if (args.step === 'run') {
		const replaced = Math.round(args.members * args.replaced);
		for (let i = 0; i < replaced; i++) ids[args.members - 1 - i] = args.members + i;
	}
	return ids;
}

export async function runMirror(urls: ServerUrls, args: MirrorArgs): Promise<MirrorResult> {
	const audienceId = args.step === 'prime' ? await resetServer(urls, true) : (args.audienceId as string);
	const fields: MatchField[] = args.fields;
	// The raw list, as n8n would hold its items (not counted as the package's memory).
	const users = listOf(args);
	const emails = users.map(emailOf);
	const phones = fields.includes('phone') ? users.map(phoneOf) : [];
	const valuesOf = fields.length === 1 ? (i: number) => [emails[i]] : (i: number) => [emails[i], phones[i]];

	let storage: MirrorStorage;
	let redis: Redis | undefined;
	if (args.store === 'disk') {
		storage = new FileMirrorStorage(args.location);
	} else {
		const target = redisTarget(args.location);
		redis = openRedis(target) as Redis;
		storage = new RedisMirrorStorage({ client: redis, target }, 'bench');
	}
	const client = new TikTokClient(connectionFor(urls));
	const before = await serverStats(urls);
	if (global.gc) global.gc();
	const baselineRss = process.memoryUsage.rss();
	const sampler = rssSampler();

	const wall0 = performance.now();
	const cpu0 = cpuMs();
	const list = hashList(fields, { defaultCountryCode: PHONE_DEFAULT_COUNTRY }, emails.length, valuesOf);
	const cpu1 = cpuMs();
	let firstRequestAt: number | undefined;
	const compareStarted = performance.now();
	const outcome = await mirrorPart(storage, {
		advertiserId: ADVERTISER_ID,
		audienceId,
		members: list.members,
		listed: emails.length,
		notSynced: list.notSynced.length,
		partKey: `bench ${args.step}`,
		rememberKey: false,
		lastPart: true,
		dryRun: false,
		abandonAfterMs: 3_600_000,
		maxRemoveShare: 0.5,
		allowEmptyList: false,
		describeFailure: (error) => String(error),
		send: async (batch) => {
			firstRequestAt ??= performance.now();
			await client.segmentMapping(buildMappingRequest(batch));
		},
	});
	const cpu2 = cpuMs();
	const wallMs = performance.now() - wall0;
	const peak = await sampler.stop();
	const after = await serverStats(urls);
	if (outcome.errored > 0 || list.notSynced.length > 0) throw new Error(`bench mirror: ${outcome.errored} errored, ${list.notSynced.length} not synced`);

	let storeBytes = 0;
	if (args.store === 'disk') {
		for (const name of await fs.readdir(args.location)) storeBytes += (await fs.stat(join(args.location, name))).size;
	} else if (redis) {
		for (const key of await keysUnder(redis, args.location)) storeBytes += Number(await redis.memory('USAGE', key));
	}
	const audience = after.audiences.find((entry) => entry.id === audienceId);
	const result: MirrorResult = {
		step: args.step,
		store: args.store,
		fields: args.fields,
		members: emails.length,
		audienceId,
		hashCpuMs: cpu1 - cpu0,
		mirrorCpuMs: cpu2 - cpu1,
		totalCpuMs: cpu2 - cpu0,
		wallMs,
		compareWallMs: (firstRequestAt ?? performance.now()) - compareStarted,
		peakExtraBytes: Math.max(0, peak - baselineRss),
		outcome: {
			added: outcome.added,
			removed: outcome.removed,
			unchanged: outcome.unchanged,
			rememberedAfter: outcome.rememberedAfter,
			requests: outcome.requests,
		},
		api: {
			requests: after.mappingRequests - before.mappingRequests,
			usersAdded: after.usersAdded - before.usersAdded,
			usersDeleted: after.usersDeleted - before.usersDeleted,
			memberCount: audience?.memberCount ?? -1,
		},
		storeBytes,
		storeBytesPerMember: storeBytes / Math.max(1, outcome.rememberedAfter),
	};
	if (args.step === 'run') {
		if (args.store === 'disk') await fs.rm(args.location, { recursive: true, force: true });
		else if (redis) await deleteKeysUnder(redis, args.location);
	}
	redis?.disconnect();
	return result;
}
