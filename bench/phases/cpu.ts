import { MATCH_FIELD_SPECS, type IdentifierOptions, type MatchField } from '../../nodes/shared/identifiers/fields';
import { dedupeKey, hashUser } from '../../nodes/shared/identifiers/hash';
import { valueOrRefused } from '../../nodes/shared/identifiers/normalise';
import { buildMappingRequest } from '../../nodes/shared/transport/mapping';
import { Chunk } from '../../nodes/TikTokBatchSync/engine/chunk';
import type { Destination, SyncUser } from '../../nodes/TikTokBatchSync/engine';
import type { ServerUrls } from '../lib/local';
import { median } from '../lib/stats';
import { e164PhoneOf, emailOf, idfaOf, nationalPhoneOf, PHONE_DEFAULT_COUNTRY, phoneOf } from '../lib/users';
import { referenceNormalisePhoneWithoutExtensions } from '../../test/harness/phoneReference';

export interface CpuArgs {
	users: number;
	repeats: number;
	/** Values in each per-value pass: every phone set, emails, IDFAs (0 or absent: no per-value passes). */
	phones?: number;
}

/** CPU per value of normalise + hash (hashUser + dedupeKey, as syncUsers does): median over repeats, and each. */
export interface ValueCpu {
	us: number;
	byRepeat: number[];
	notSynced: number;
}

/** One set of phones, timed with today's code and with the code before phone.ts, in alternating passes. */
export interface PhoneSetCpu {
	name: 'e164' | 'national' | 'mixed';
	now: ValueCpu;
	/** libphonenumber-js's parse + isValid() per phone (test/harness/phoneReference.ts): the figure before phone.ts. */
	before: ValueCpu;
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
	/** The per-value passes: phones (per set, now and before), emails and IDFAs. */
	perValue?: { values: number; defaultCountry: string; phones: PhoneSetCpu[]; email: ValueCpu; idfa: ValueCpu };
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
	const perValue = args.phones ? runPerValuePasses(args.phones, args.repeats) : undefined;
	return {
		users: args.users,
		repeats: args.repeats,
		normaliseHashUs: median(hashUs),
		buildRequestUs: median(buildUs),
		stringifyUs: median(stringifyUs),
		totalUs: median(totals),
		totalUsByRepeat: totals,
		requestBytesPerUser: bytes / args.users,
		perValue,
	};
}

/**
 * CPU per value of normalise + hash (hashUser + dedupeKey, as syncUsers does) for three sets of phones (E.164, national
 * with the default country, the mixed writings of phoneOf), emails and IDFAs. Each phone set is also timed with the
 * phone normaliser before phone.ts (libphonenumber-js's parse + isValid() per phone) put in the field table's
 * place, in the same process and the same hashUser path, passes alternating so both see the same machine load.
 * Building and serialising a request costs the same per 64-hex id for every field, so these passes leave it out.
 */
function runPerValuePasses(count: number, repeats: number): NonNullable<CpuResult['perValue']> {
	const options: IdentifierOptions = { defaultCountryCode: PHONE_DEFAULT_COUNTRY };
	const sets = [
		{ name: 'e164' as const, raw: Array.from({ length: count }, (_, i) => e164PhoneOf(i)) },
		{ name: 'national' as const, raw: Array.from({ length: count }, (_, i) => nationalPhoneOf(i)) },
		{ name: 'mixed' as const, raw: Array.from({ length: count }, (_, i) => phoneOf(i)) },
	];
	const emails = Array.from({ length: count }, (_, i) => emailOf(i));
	const idfas = Array.from({ length: count }, (_, i) => idfaOf(i));
	const phoneSpec = MATCH_FIELD_SPECS.phone;
	const normaliseNow = phoneSpec.normalise;
	const normaliseBefore: typeof normaliseNow = (raw, opts) =>
		valueOrRefused(referenceNormalisePhoneWithoutExtensions(raw, opts.defaultCountryCode ?? ''));
	const now = sets.map(() => [] as number[]);
	const before = sets.map(() => [] as number[]);
	const notSynced = { now: sets.map(() => 0), before: sets.map(() => 0) };
	const email: number[] = [];
	const idfa: number[] = [];
	let notSyncedOthers = { email: 0, idfa: 0 };
	// Repeat 0 warms the JIT up and is not counted.
	for (let repeat = 0; repeat <= repeats; repeat++) {
		sets.forEach((set, i) => {
			for (const which of repeat % 2 === 0 ? (['now', 'before'] as const) : (['before', 'now'] as const)) {
				phoneSpec.normalise = which === 'now' ? normaliseNow : normaliseBefore;
				try {
					const pass = timedPass('phone', set.raw, options);
					notSynced[which][i] = pass.notSynced;
					if (repeat > 0) (which === 'now' ? now : before)[i].push(pass.us);
				} finally {
					phoneSpec.normalise = normaliseNow;
				}
			}
		});
		const emailPass = timedPass('email', emails, options);
		const idfaPass = timedPass('idfa', idfas, options);
		notSyncedOthers = { email: emailPass.notSynced, idfa: idfaPass.notSynced };
		if (repeat > 0) {
			email.push(emailPass.us);
			idfa.push(idfaPass.us);
		}
	}
	const summary = (byRepeat: number[], bad: number): ValueCpu => ({ us: median(byRepeat), byRepeat, notSynced: bad });
	return {
		values: count,
		defaultCountry: PHONE_DEFAULT_COUNTRY,
		phones: sets.map((set, i) => ({ name: set.name, now: summary(now[i], notSynced.now[i]), before: summary(before[i], notSynced.before[i]) })),
		email: summary(email, notSyncedOthers.email),
		idfa: summary(idfa, notSyncedOthers.idfa),
	};
}

function timedPass(field: MatchField, raw: unknown[], options: IdentifierOptions): { us: number; notSynced: number } {
	if (global.gc) global.gc();
	let notSynced = 0;
	const keys = new Array<string>(raw.length);
	const t0 = cpuNow();
	for (let i = 0; i < raw.length; i++) {
		const user = hashUser([field], [raw[i]], options);
		if (user.notSyncedReason !== undefined) notSynced++;
		keys[i] = dedupeKey(user.ids);
	}
	return { us: (cpuNow() - t0) / raw.length, notSynced };
}
