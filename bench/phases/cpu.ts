import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import { buildMappingRequest } from '../../nodes/shared/transport/mapping';
import { Chunk } from '../../nodes/TikTokBatchSync/engine/chunk';
import type { Destination, SyncUser } from '../../nodes/TikTokBatchSync/engine';
import type { ServerUrls } from '../lib/local';
import { median } from '../lib/stats';
import { emailOf, PHONE_DEFAULT_COUNTRY, phoneOf } from '../lib/users';

export interface CpuArgs {
	users: number;
	repeats: number;
	/** Phones for the phone pass (0 or absent: no phone pass). */
	phones?: number;
}

export interface CpuResult {
	users: number;
	repeats: number;
	/** Median over repeats, CPU µs per user. */
	normaliseHashUs: number;
	buildRequestUs: number;
	stringifyUs: number;
	totalUs: number;
	/** Every repeat's total, to show the spread. */
	totalUsByRepeat: number[];
	requestBytesPerUser: number;
	/** The phone pass: median CPU µs per phone of normalise + hash (hashUser + dedupeKey), and every repeat's. */
	phone?: { phones: number; normaliseHashUs: number; byRepeat: number[]; notSynced: number };
}

const USERS_PER_REQUEST = 10_000;
const destination: Destination = {
	advertiserId: '7100000000000000001',
	audienceId: '1790000000000001',
	action: 'add',
	idSchema: ['EMAIL_SHA256'],
};

function cpuNow(): number {
	const usage = process.cpuUsage();
	return usage.user + usage.system;
}

/**
 * CPU per user of what the node and the engine do to a user before the network, one request's worth at a time (as
 * one execution of 10,000 items does): normalise and hash the email (hashUser + dedupeKey, as syncUsers does),
 * gather the users into a chunk and build the mapping request (buildMappingRequest), and serialise the body as the
 * transport does (JSON.stringify). No network, no pacing. process.cpuUsage() includes GC (also its helper threads).
 */
export async function runCpu(_urls: ServerUrls, args: CpuArgs): Promise<CpuResult> {
	const raw = Array.from({ length: args.users }, (_, i) => emailOf(i));
	const hashUs: number[] = [];
	const buildUs: number[] = [];
	const stringifyUs: number[] = [];
	let bytes = 0;
	// Repeat 0 warms the JIT up and is not counted.
	for (let repeat = 0; repeat <= args.repeats; repeat++) {
		if (global.gc) global.gc();
		let hashed = 0;
		let built = 0;
		let serialised = 0;
		bytes = 0;
		for (let start = 0; start < raw.length; start += USERS_PER_REQUEST) {
			const end = Math.min(raw.length, start + USERS_PER_REQUEST);
			const t0 = cpuNow();
			const users = new Array<SyncUser>(end - start);
			for (let i = start; i < end; i++) {
				const { ids } = hashUser(['email'], [raw[i]]);
				users[i - start] = { key: dedupeKey(ids), ids };
			}
			const t1 = cpuNow();
			const chunk = new Chunk(destination, 0, { window: 0 });
			for (const user of users) chunk.append(user.ids, 0);
			chunk.seal();
			const request = buildMappingRequest(chunk.toBatch());
			const t2 = cpuNow();
			// The body exactly as TikTokClient.segmentMapping builds and serialises it.
			const body = JSON.stringify({
				advertiser_ids: request.advertiserIds,
				action: request.action,
				id_schema: request.idSchema,
				batch_data: request.batchData,
			});
			bytes += body.length;
			const t3 = cpuNow();
			hashed += t1 - t0;
			built += t2 - t1;
			serialised += t3 - t2;
		}
		if (repeat === 0) continue;
		hashUs.push(hashed / raw.length);
		buildUs.push(built / raw.length);
		stringifyUs.push(serialised / raw.length);
	}
	const totals = hashUs.map((value, i) => value + buildUs[i] + stringifyUs[i]);
	const phone = args.phones ? runPhonePass(args.phones, args.repeats) : undefined;
	return {
		users: args.users,
		repeats: args.repeats,
		normaliseHashUs: median(hashUs),
		buildRequestUs: median(buildUs),
		stringifyUs: median(stringifyUs),
		totalUs: median(totals),
		totalUsByRepeat: totals,
		requestBytesPerUser: bytes / args.users,
		phone,
	};
}

/**
 * CPU per phone of normalise + hash (hashUser + dedupeKey, as syncUsers does) over a mix of national and
 * international writings with a default country (bench/lib/users.ts phoneOf). Building and serialising a request
 * costs the same per 64-hex id as for emails, so this pass leaves them out.
 */
function runPhonePass(count: number, repeats: number): NonNullable<CpuResult['phone']> {
	const raw = Array.from({ length: count }, (_, i) => phoneOf(i));
	const options = { defaultCountryCode: PHONE_DEFAULT_COUNTRY };
	const byRepeat: number[] = [];
	let notSynced = 0;
	for (let repeat = 0; repeat <= repeats; repeat++) {
		if (global.gc) global.gc();
		notSynced = 0;
		const keys = new Array<string>(count);
		const t0 = cpuNow();
		for (let i = 0; i < count; i++) {
			const user = hashUser(['phone'], [raw[i]], options);
			if (user.notSyncedReason !== undefined) notSynced++;
			keys[i] = dedupeKey(user.ids);
		}
		const t1 = cpuNow();
		if (repeat > 0) byRepeat.push((t1 - t0) / count);
	}
	return { phones: count, normaliseHashUs: median(byRepeat), byRepeat, notSynced };
}
