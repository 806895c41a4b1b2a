import { randomUUID } from 'node:crypto';

import type { Cluster, Redis } from 'ioredis';

import { digest as digestOf } from '../../../shared/redis/keys';
import type { MappingBatch } from '../../../shared/transport/mapping';
import type { MappingAction } from '../../../shared/transport/types';
import type { Activity } from '../activity';
import { PENDING, retryOutcome, SYNCED } from '../chunk';
import { emptyCounters, type Counters } from '../counters';
import { horizonReason, NO_ATTEMPT } from '../failurePolicy';
import { notAcceptedOutcome, tallied, type Rejection } from '../runResult';
import type { SyncSettings } from '../settings';
import type { AdmitReply, Claimed, ClaimReply, LeaseTerms, ScopeStore, Settlement } from '../store';
import type { Destination, SubmitResult, SyncUser, UserOutcome } from '../types';
import { columnsOf, mergeWindow, packRows, parseMoved, type MergedWindow } from './rows';
import type { ScriptName } from './scripts';

export type RedisClient = Redis | Cluster;

/** The scripts as ioredis defined them on the client (KEYS[1] = the scope's base, then ARGV). */
export type ScriptCaller = Record<ScriptName, (base: string, ...args: Array<string | number | Buffer>) => Promise<unknown>>;

/** Users per admit call: the rows go to Redis as one string, which Redis appends without looking inside. */
export const ADMIT_BATCH = 10_000;
/** Raw windows a claim may split in a row before it lets the scheduler look again. */
const SPLITS_PER_CLAIM = 10;
/** The reason for users whose data vanished from Redis before they were sent. */
export const LOST_REASON = 'their pending data was lost from Redis (evicted or deleted) before they could be sent';

/** A part of a window taken to be sent. */
export interface RedisClaim extends Claimed {
	readonly member: string;
	readonly token: string;
}

/** A run's users and the windows they went into. */
export interface RedisPlacement {
	users: ReadonlyArray<SyncUser>;
	destination: Destination;
	dest: string;
	destJson: string;
	/** Per user, an index into `windows` (-1: not admitted). */
	windowOf: Int32Array;
	windows: string[];
	/** Outcome per "<window index>:<a|d>", once attempted ('moved': none with that action, the users took the other). */
	known: Map<string, UserOutcome | 'moved'>;
	/** Per window index, the users whose last action in it differs from some of their submissions. */
	moved: Map<number, Map<string, MappingAction>>;
	/** An admit found the scope full: later ones first look how much room there is (see admit). */
	sawFull: boolean;
}

/**
 * The state of one scope in Redis (n8n queue mode): every verb is one Lua script (scripts/), atomic on the server,
 * so any number of processes share the scope. Claims are leased and settled with a token.
 */
export class RedisStore implements ScopeStore<RedisClaim, RedisPlacement> {
	readonly leased = true;
	/** Parts a split leased to this process beyond the one its claim returned (it has their rows already). */
	private readonly preclaimed: RedisClaim[] = [];
	private readonly destinations = new Map<string, Omit<Destination, 'action'>>();

	constructor(
		private readonly redis: RedisClient,
		private readonly scripts: ScriptCaller,
		readonly base: string,
		private readonly activity: Activity,
	) {}

	placement(users: ReadonlyArray<SyncUser>, destination: Destination): RedisPlacement {
		const { advertiserId, audienceId, idSchema } = destination;
		const destJson = JSON.stringify({ advertiserId, audienceId, idSchema });
		return {
			users,
			destination,
			dest: destinationDigest(destination),
			destJson,
			windowOf: new Int32Array(users.length).fill(-1),
			windows: [],
			known: new Map(),
			moved: new Map(),
			sawFull: false,
		};
	}

	async admit(placement: RedisPlacement, from: number, settings: SyncSettings, now: number): Promise<AdmitReply> {
		const { users, destination } = placement;
		let to = Math.min(users.length, from + ADMIT_BATCH);
		if (placement.sawFull) {
			// Waiting for room (Max Pending Users): send about as many rows as fit, not the whole batch again for
			// Redis to read and turn away. At least one, so the script still says whether the scope is full.
			const pending = Number((await this.activity.track(this.redis.hget(`${this.base}cnt`, 'pending'))) ?? 0);
			to = Math.min(to, from + Math.max(1, settings.maxPendingUsers - pending));
		}
		const packed = packRows(users, from, to, destination.action);
		const reply = (await this.run(
			'tiktokSyncAdmit',
			randomUUID(),
			now,
			settings.windowMs,
			settings.usersPerRequest,
			settings.retryHorizonMs,
			settings.maxPendingUsers,
			placement.dest,
			placement.destJson,
			to - from,
			packed.rows,
			packed.ends,
			horizonReason(settings.retryHorizonMs, ''),
		)) as string;
		const fields = reply.split(' ');
		const admitted = Number(fields[0]);
		let next = from;
		for (let field = 4; field < fields.length; field += 2) {
			const window = placement.windows.length;
			placement.windows.push(fields[field]);
			const end = next + Number(fields[field + 1]);
			placement.windowOf.fill(window, next, end);
			next = end;
		}
		const wake = Number(fields[3]);
		if (fields[1] === '1') placement.sawFull = true;
		return { admitted, full: fields[1] === '1', drainable: fields[2] === '1', wakeAt: wake >= 0 ? wake : undefined };
	}

	async claim(now: number, settings: SyncSettings, terms: LeaseTerms, room = 1): Promise<ClaimReply<RedisClaim>> {
		const ready = this.preclaimed.shift();
		if (ready) return { claim: ready, nextAt: now };
		let changed = false;
		for (let split = 0; split < SPLITS_PER_CLAIM; split++) {
			const token = randomUUID();
			const reply = (await this.run(
				'tiktokSyncClaim',
				token,
				now,
				terms.leaseMs,
				terms.sendBudgetMs,
				settings.retryHorizonMs,
				horizonReason(settings.retryHorizonMs, ''),
				NO_ATTEMPT,
				LOST_REASON,
			)) as Array<string | number>;
			if (reply[0] === 'idle') return { nextAt: Number(reply[1]), changed: changed || reply[2] === 1 };
			const member = String(reply[1]);
			const destination = this.destinationOf(String(reply[2]));
			// The rows, read apart from the script: they never change once the window is cut (see claim.ts).
			const rows = await this.activity.track(this.redis.get(`${this.base}r:${member.slice(0, 15)}`));
			if (reply[0] === 'part') {
				if (rows === null) {
					// Gone since the claim looked (eviction, deletion): its users are errored, not left pending.
					await this.run('tiktokSyncSettle', token, now, member, 'errored', 0, 0, LOST_REASON, 0, 0);
					changed = true;
					continue;
				}
				const action: MappingAction = member.charAt(16) === 'd' ? 'delete' : 'add';
				const claim = this.claimOf(member, token, destination, action, mergeWindow(rows, Number(reply[3])), Number(reply[4]), Number(reply[5]));
				return { claim, nextAt: now, changed };
			}
			// A raw window whose rows vanished splits into nothing: split errors its submissions.
			const merged = mergeWindow(rows ?? '', Number(reply[3]));
			changed = true;
			const leased = await this.split(token, now, member, merged, settings, terms, room);
			const claims = leased.map((action) => {
				const part = action === 'add' ? merged.add : merged.delete;
				return this.claimOf(partMember(member, action, part.users), token, destination, action, merged, 0, part.enteredAt);
			});
			if (claims.length > 0) {
				this.preclaimed.push(...claims.slice(1));
				return { claim: claims[0], nextAt: now, changed };
			}
		}
		return { nextAt: now, changed };
	}

	renew(claim: RedisClaim, now: number, terms: LeaseTerms): Promise<boolean> {
		return this.run('tiktokSyncRenew', claim.token, now, claim.member, terms.leaseMs).then((held) => held === 1);
	}

	async settle(claim: RedisClaim, settlement: Settlement, now: number): Promise<void> {
		const retry = settlement.kind === 'retry' ? settlement : undefined;
		await this.run(
			'tiktokSyncSettle',
			claim.token,
			now,
			claim.member,
			settlement.kind,
			retry?.dueAt ?? 0,
			retry?.holdUntil ?? 0,
			settlement.kind === 'synced' ? '' : settlement.reason,
			retry?.reauthorize ? 1 : 0,
			0,
		);
	}

	async handBack(claim: RedisClaim, now: number): Promise<void> {
		await this.run('tiktokSyncHandBack', claim.token, now, claim.member, 0);
	}

	async handBackHeld(now: number): Promise<void> {
		for (const claim of this.preclaimed.splice(0)) await this.handBack(claim, now);
	}

	async cut(now: number): Promise<void> {
		await this.run('tiktokSyncCutAll', now, 0);
	}

	async probe(now: number): Promise<void> {
		await this.run('tiktokSyncProbe', now, 0);
	}

	async busy(now: number): Promise<boolean> {
		return (await this.run('tiktokSyncBusy', now)) === 1;
	}

	async attempted(placement: RedisPlacement, now: number): Promise<boolean> {
		for (let round = 0; round < 3; round++) {
			const open = new Set<string>();
			for (let index = 0; index < placement.users.length; index++) {
				const pair = pairOf(placement, index);
				if (pair !== undefined && !isSettledPair(placement.known.get(pair))) open.add(pair);
			}
			if (open.size === 0) return true;
			const pairs = [...open];
			const args: string[] = [];
			for (const pair of pairs) args.push(placement.windows[Number(pair.slice(0, -2))], pair.slice(-1));
			const reply = (await this.run('tiktokSyncOutcomes', now, ...args)) as string[];
			let followed = false;
			pairs.forEach((pair, index) => {
				const status = reply[index * 2];
				const moved = reply[index * 2 + 1];
				const window = Number(pair.slice(0, -2));
				if (moved && !placement.moved.has(window)) {
					placement.moved.set(window, parseMoved(moved));
					followed = true;
				}
				if (status === 'moved') followed = true;
				if (status !== 'open') placement.known.set(pair, parseOutcome(status));
			});
			// Still open, and nothing learnt that points elsewhere: not yet.
			if (!followed && pairs.some((pair) => !isSettledPair(placement.known.get(pair)))) return false;
		}
		return false;
	}

	result(placement: RedisPlacement, notSynced: number, waited: boolean, rejection: Rejection | undefined): SubmitResult {
		const notAccepted = notAcceptedOutcome(rejection);
		const count = placement.users.length;
		const outcomes = new Array<UserOutcome>(count);
		const actions = new Array<MappingAction | undefined>(count);
		for (let index = 0; index < count; index++) {
			const pair = pairOf(placement, index);
			if (pair === undefined) {
				outcomes[index] = notAccepted;
				continue;
			}
			const known = placement.known.get(pair);
			outcomes[index] = waited && known !== undefined && known !== 'moved' ? known : PENDING;
			actions[index] = pair.endsWith('d') ? 'delete' : 'add';
		}
		return tallied(outcomes, actions, notSynced, rejection);
	}

	async recordNotSynced(reasons: ReadonlyArray<string>, now: number, settings: SyncSettings): Promise<void> {
		for (let start = 0; start < reasons.length; start += ADMIT_BATCH) {
			await this.run('tiktokSyncNotSynced', randomUUID(), now, settings.retryHorizonMs, ...reasons.slice(start, start + ADMIT_BATCH));
		}
	}

	report(): Promise<Counters> {
		return readCounters(this.redis, this.base);
	}

	dispose(): void {
		this.preclaimed.length = 0;
	}

	/** One script call, counted as activity (tests on a manual clock wait for it). */
	run(name: ScriptName, ...args: Array<string | number | Buffer>): Promise<unknown> {
		return this.activity.track(this.scripts[name](this.base, ...args));
	}

	// ---- internals ----

	private async split(
		token: string,
		now: number,
		member: string,
		merged: MergedWindow,
		settings: SyncSettings,
		terms: LeaseTerms,
		room: number,
	): Promise<MappingAction[]> {
		const reply = (await this.run(
			'tiktokSyncSplit',
			token,
			now,
			member,
			terms.leaseMs,
			terms.sendBudgetMs,
			Math.max(0, room),
			settings.retryHorizonMs,
			merged.add.users,
			merged.add.rows.length,
			merged.add.enteredAt,
			merged.delete.users,
			merged.delete.rows.length,
			merged.delete.enteredAt,
			merged.moved,
			LOST_REASON,
			horizonReason(settings.retryHorizonMs, ''),
			NO_ATTEMPT,
		)) as string;
		if (reply === 'lost' || reply === '') return [];
		return reply.split(' ').map((act) => (act === 'd' ? 'delete' : 'add'));
	}

	private claimOf(
		member: string,
		token: string,
		destination: Omit<Destination, 'action'>,
		action: MappingAction,
		merged: MergedWindow,
		failures: number,
		lastEnteredAt: number,
	): RedisClaim {
		const rows = action === 'add' ? merged.add.rows : merged.delete.rows;
		const batch: MappingBatch = {
			target: { ...destination, action },
			rows: rows.length,
			columns: columnsOf(rows, destination.idSchema.length),
		};
		return { member, token, batch, failures, lastEnteredAt };
	}

	private destinationOf(json: string): Omit<Destination, 'action'> {
		let destination = this.destinations.get(json);
		if (!destination) {
			destination = JSON.parse(json) as Omit<Destination, 'action'>;
			this.destinations.set(json, destination);
		}
		return destination;
	}
}

/** "<window index>:<a|d>" of the request carrying a user now (its own action, or the one a later submission won). */
function pairOf(placement: RedisPlacement, index: number): string | undefined {
	const window = placement.windowOf[index];
	if (window < 0) return undefined;
	const user = placement.users[index];
	let act = (user.action ?? placement.destination.action) === 'delete' ? 'd' : 'a';
	const moved = placement.moved.get(window)?.get(user.key);
	if (moved) act = moved === 'delete' ? 'd' : 'a';
	const pair = `${window}:${act}`;
	if (placement.known.get(pair) === 'moved') return `${window}:${act === 'a' ? 'd' : 'a'}`;
	return pair;
}

function isSettledPair(known: UserOutcome | 'moved' | undefined): boolean {
	return known !== undefined && known !== 'moved';
}

function parseOutcome(answer: string): UserOutcome | 'moved' {
	if (answer === 'synced') return SYNCED;
	if (answer === 'moved') return 'moved';
	if (answer === 'gone') return PENDING;
	const tab = answer.indexOf('\t');
	const status = tab === -1 ? answer : answer.slice(0, tab);
	const reason = tab === -1 ? '' : answer.slice(tab + 1);
	if (status === 'errored') return Object.freeze({ status: 'errored', reason });
	return reason ? retryOutcome(reason) : PENDING;
}

/** A part's member, from its raw window's member ("<id>:w:<submissions>:<dest>"). */
function partMember(windowMember: string, action: MappingAction, users: number): string {
	const dest = windowMember.slice(windowMember.indexOf(':', 18) + 1);
	return `${windowMember.slice(0, 15)}:${action === 'delete' ? 'd' : 'a'}:${users}:${dest}`;
}

/** An audience of an advertiser with its id types, as a short digest (adds and removes share its window). */
export function destinationDigest(destination: Destination): string {
	return digestOf(JSON.stringify([destination.advertiserId, destination.audienceId, destination.idSchema]));
}


/** A scope's counters as every process has moved them. */
export async function readCounters(redis: RedisClient, base: string): Promise<Counters> {
	const raw = await redis.hgetall(`${base}cnt`);
	const counters = emptyCounters();
	for (const field of ['entered', 'synced', 'notSynced', 'pending', 'errored', 'added', 'removed'] as const) {
		counters[field] = Number(raw[field] ?? 0);
	}
	for (const [field, value] of Object.entries(raw)) {
		if (field.startsWith('n:')) counters.notSyncedReasons[field.slice(2)] = Number(value);
		else if (field.startsWith('e:')) counters.erroredReasons[field.slice(2)] = Number(value);
	}
	return counters;
}
