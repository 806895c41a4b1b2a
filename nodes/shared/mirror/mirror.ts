import { digestHex } from '../digest';
import { MAX_USERS_PER_REQUEST, type IdType } from '../transport/types';
import type { MappingBatch } from '../transport/mapping';
import { compareWithMemory, planRemovals, type RecordList } from './compare';
import { convertRecords, layoutOf, sameLayout, slotHex, unionLayout, type Layout } from './layout';
import { MirrorMemory } from './memory';
import { RecordSet } from './recordSet';
import type { MirrorSession, MirrorStorage } from './storage';

/**
 * One mirror run (or one part of a mirror that arrives in parts), given the list's members already hashed. The rules:
 * - Only the difference is sent: members new to the list are added, members that left are removed (removes first,
 *   so an identifier in both ends up in the audience); unchanged members are not sent.
 * - A change is remembered only after TikTok accepted its request. Before a request goes out its members are written
 *   down as unconfirmed; after TikTok accepted it, as added or removed. A failed request, a lost answer or a crash
 *   leaves them unconfirmed, and the next mirror sends them again (added if in the list, removed if not).
 * - Parts: members of each part are staged; adds go out as parts arrive; removes only after the last part. A mirror
 *   whose last part does not come in time is abandoned: its staged parts are dropped and nothing is removed.
 * - Safety: a last part that would remove more than the allowed share of the remembered members (or, with an empty
 *   list, any) sends nothing and says so; its mirror stays open for the last part to come again.
 * The caller holds the mirror's lock for the whole call.
 */

/** Tombstones of ended mirrors are kept this long, so a late part of one is refused instead of starting anew. */
export const COMPLETED_KEPT_MS = 24 * 3_600_000;
export const ABANDONED_KEPT_MS = 7 * 24 * 3_600_000;
const MAX_TOMBSTONES = 200;

export interface MirrorPartInput {
	advertiserId: string;
	audienceId: string;
	/** This part's members (deduplicated), in the layout of Fields to Match. */
	members: RecordSet;
	/** Items in this part, and how many of them had no usable identifier. */
	listed: number;
	notSynced: number;
	partKey: string;
	lastPart: boolean;
	dryRun: boolean;
	abandonAfterMs: number;
	/** Share of the remembered members (0–1) a mirror may remove. */
	maxRemoveShare: number;
	/** Whether a list without members empties the audience (else it removes nothing). */
	allowEmptyList: boolean;
	/** Sends one segment-mapping request; rejects when TikTok did not accept it. */
	send: (batch: MappingBatch) => Promise<void>;
	/** One line for a failed request (no identifiers in it). */
	describeFailure: (error: unknown) => string;
	/** Collect one entry per member sent (the node's optional per-user items). */
	collectUsers?: boolean;
	/**
	 * Whether a one-part mirror leaves its key behind (a later part with it is refused): for keys the workflow chose,
	 * which may be reused by mistake; not needed for an execution's own key.
	 */
	rememberKey?: boolean;
	/** Aborted when the mirror's lock was lost: nothing more is sent. */
	signal?: AbortSignal;
	now?: () => number;
	usersPerRequest?: number;
}

export interface UserChange {
	action: 'add' | 'remove';
	status: 'synced' | 'error' | 'dry_run' | 'refused';
	/** Adds of this part: the member's number in `members`. */
	member?: number;
	/** Everyone else: the hashed identifiers (what TikTok receives), by type. */
	ids?: Partial<Record<IdType, string>>;
	/** A removal of a member that shares an identifier with an added one (an identifier change). */
	changed?: boolean;
	reason?: string;
}

export interface AbandonedMirror {
	partKey: string;
	startedAt: number;
	parts: number;
}

export type Refusal = { kind: 'emptyList' | 'safetyLimit'; removing: number; remembered: number; allowedShare: number };

export interface MirrorOutcome {
	partKey: string;
	lastPart: boolean;
	dryRun: boolean;
	firstRun: boolean;
	/** Parts seen so far, this one included. */
	parts: number;
	/** Items and items without a usable identifier, of the whole mirror so far (at the last part: of all parts). */
	listed: number;
	notSynced: number;
	/** Distinct members: of this part, or at the last part of all parts together. */
	members: number;
	/** Remembered members when the comparison started. */
	rememberedBefore: number;
	unchanged: number;
	/** Members added (accepted by TikTok; in a dry run: would be added), over the whole mirror. */
	added: number;
	/** Members removed (accepted; dry run: would be), of which `changed` shared an identifier with an added member. */
	removed: number;
	changed: number;
	/** Members whose request TikTok did not accept, with the reasons: tried again by the next mirror. */
	errored: number;
	erroredReasons: Record<string, number>;
	rememberedAfter: number;
	/** Members whose state in TikTok is unknown after the run (failed requests): the next mirror sends them again. */
	unconfirmed: number;
	refusal?: Refusal;
	requests: number;
	abandoned: AbandonedMirror[];
	users: UserChange[];
}

export class MirrorSessionError extends Error {
	override readonly name = 'MirrorSessionError';
	constructor(
		readonly kind: 'abandoned' | 'completed' | 'fieldsChanged',
		readonly session: MirrorSession,
	) {
		super(`The mirror with part key "${session.partKey}" is ${kind === 'fieldsChanged' ? 'using other identifier types' : kind}`);
	}
}

export function sessionIdOf(partKey: string, dryRun: boolean): string {
	return digestHex('sha256', `${dryRun ? 'dry' : 'run'}\u0000${partKey}`).slice(0, 24);
}

/** Abandons open sessions past their time and forgets old tombstones; returns the newly abandoned ones. */
async function expireSessions(storage: MirrorStorage, sessions: MirrorSession[], now: number): Promise<AbandonedMirror[]> {
	const abandoned: AbandonedMirror[] = [];
	for (const session of sessions) {
		if (session.state === 'open' && now - session.startedAt > session.abandonAfterMs) {
			await storage.dropParts(session.id);
			Object.assign(session, { state: 'abandoned', endedAt: now });
			await storage.writeSession(session);
			abandoned.push({ partKey: session.partKey, startedAt: session.startedAt, parts: session.parts });
		}
	}
	const ended = sessions
		.filter((session) => session.state !== 'open')
		.sort((a, b) => (b.endedAt ?? 0) - (a.endedAt ?? 0));
	for (const [position, session] of ended.entries()) {
		const keptFor = session.state === 'abandoned' ? ABANDONED_KEPT_MS : COMPLETED_KEPT_MS;
		if (position >= MAX_TOMBSTONES || now - (session.endedAt ?? 0) > keptFor) await storage.deleteSession(session.id);
	}
	return abandoned;
}

/** The members of `set` (in `from`) in `to`: the set itself when the layouts are the same (no copy of a big list). */
function inLayout(set: RecordSet, from: Layout, to: Layout): RecordSet {
	if (sameLayout(from, to)) return set;
	const converted = new RecordSet(to, set.count);
	converted.addAll(convertRecords(set.records(), set.count, from, to), set.count);
	return converted;
}

function idsOf(records: Buffer, offset: number, layout: Layout): Partial<Record<IdType, string>> {
	const ids: Partial<Record<IdType, string>> = {};
	layout.types.forEach((type, slot) => {
		const hex = slotHex(records, offset, layout, slot);
		if (hex !== undefined) ids[type] = hex;
	});
	return ids;
}

/** One request's users: the slots no row has are left out of id_schema; `keep` bits blank a row's slot. */
function batchOf(
	input: MirrorPartInput,
	layout: Layout,
	action: 'add' | 'delete',
	records: Buffer,
	rows: ArrayLike<number>,
	keep?: Uint8Array,
): MappingBatch {
	const columns = layout.types.map((_, slot) =>
		Array.from(rows, (n) => (keep && (keep[n] & (1 << slot)) !== 0 ? undefined : slotHex(records, n * layout.width, layout, slot))),
	);
	const used = layout.types.map((_, slot) => columns[slot].some((id) => id !== undefined));
	return {
		target: {
			advertiserId: input.advertiserId,
			audienceId: input.audienceId,
			action,
			idSchema: layout.types.filter((_, slot) => used[slot]),
		},
		rows: rows.length,
		columns: columns.filter((_, slot) => used[slot]),
	};
}

/** The records of `rows` copied out of `records`: what one accepted request commits. */
function recordsOf(records: Buffer, rows: ArrayLike<number>, width: number): Buffer {
	const out = Buffer.allocUnsafe(rows.length * width);
	for (let index = 0; index < rows.length; index++) records.copy(out, index * width, rows[index] * width, (rows[index] + 1) * width);
	return out;
}

class Sender {
	requests = 0;
	errored = 0;
	readonly reasons: Record<string, number> = {};

	constructor(
		private readonly input: MirrorPartInput,
		private readonly memory: MirrorMemory,
		private readonly layout: Layout,
		private readonly users: UserChange[] | undefined,
	) {}

	/**
	 * Sends `rows` of `records` in requests of at most 10,000 users and commits each accepted one. Rows whose every
	 * slot is kept (all identifiers still used by unchanged members) need no request: they are only forgotten.
	 * Returns how many rows were accepted.
	 */
	async run(
		op: 'add' | 'remove',
		records: Buffer,
		rows: Int32Array,
		userOf: (row: number) => UserChange,
		keep?: Uint8Array,
		onAccepted?: (rows: readonly number[]) => void,
	): Promise<number> {
		const { layout, input } = this;
		const allSlots = (1 << layout.types.length) - 1;
		const silent: number[] = [];
		const loud: number[] = [];
		for (const row of rows) (keep && keep[row] === allSlots ? silent : loud).push(row);
		let accepted = 0;
		// Taken out of a removal entirely: their identifiers stay with unchanged members, so only the memory changes.
		if (silent.length > 0 && !input.dryRun) {
			await this.memory.commit(op, recordsOf(records, silent, layout.width), silent.length);
		}
		accepted += silent.length;
		onAccepted?.(silent);
		for (const row of silent) this.users?.push({ ...userOf(row), status: input.dryRun ? 'dry_run' : 'synced' });
		const size = Math.max(1, Math.min(MAX_USERS_PER_REQUEST, input.usersPerRequest ?? MAX_USERS_PER_REQUEST));
		for (let start = 0; start < loud.length; start += size) {
			const batchRows = loud.slice(start, start + size);
			if (input.dryRun) {
				accepted += batchRows.length;
				onAccepted?.(batchRows);
				for (const row of batchRows) this.users?.push({ ...userOf(row), status: 'dry_run' });
				continue;
			}
			if (input.signal?.aborted) throw input.signal.reason ?? new Error('The mirror was stopped');
			const batchRecords = recordsOf(records, batchRows, layout.width);
			await this.memory.commit('unconfirmed', batchRecords, batchRows.length);
			this.requests++;
			try {
				await input.send(batchOf(input, layout, op === 'add' ? 'add' : 'delete', records, batchRows, keep));
			} catch (error) {
				const reason = input.describeFailure(error);
				this.errored += batchRows.length;
				this.reasons[reason] = (this.reasons[reason] ?? 0) + batchRows.length;
				for (const row of batchRows) this.users?.push({ ...userOf(row), status: 'error', reason });
				continue;
			}
			await this.memory.commit(op, batchRecords, batchRows.length);
			accepted += batchRows.length;
			onAccepted?.(batchRows);
			for (const row of batchRows) this.users?.push({ ...userOf(row), status: 'synced' });
		}
		return accepted;
	}
}

/** The numbers of the members of `set` that `known` does not mark: the ones to add. */
function newMembers(known: Uint8Array, count: number): Int32Array {
	let total = 0;
	for (let n = 0; n < count; n++) if (known[n] === 0) total++;
	const rows = new Int32Array(total);
	let at = 0;
	for (let n = 0; n < count; n++) if (known[n] === 0) rows[at++] = n;
	return rows;
}

function refusalOf(input: MirrorPartInput, remembered: number, members: number, leaving: number): Refusal | undefined {
	if (remembered === 0 || leaving === 0) return undefined;
	if (members === 0) {
		return input.allowEmptyList ? undefined : { kind: 'emptyList', removing: leaving, remembered, allowedShare: input.maxRemoveShare };
	}
	if (leaving / remembered > input.maxRemoveShare) return { kind: 'safetyLimit', removing: leaving, remembered, allowedShare: input.maxRemoveShare };
	return undefined;
}

/** Runs one part (the only one, by default) of a mirror. The caller holds the mirror's lock. */
export async function mirrorPart(storage: MirrorStorage, input: MirrorPartInput): Promise<MirrorOutcome> {
	const now = input.now ?? Date.now;
	const runLayout = input.members.layout;
	const memory = await MirrorMemory.open(storage);
	const sessions = await storage.readSessions();
	const abandoned = await expireSessions(storage, sessions, now());

	const id = sessionIdOf(input.partKey, input.dryRun);
	const existing = sessions.find((session) => session.id === id);
	if (existing && existing.state !== 'open') throw new MirrorSessionError(existing.state, existing);
	if (existing && !sameLayout(layoutOf(existing.types), runLayout)) throw new MirrorSessionError('fieldsChanged', existing);

	// A dry run changes nothing, so it compares in both layouts' types without rewriting the memory.
	const layout = input.dryRun ? unionLayout(memory.layout ?? runLayout, runLayout) : await memory.prepareFor(runLayout);
	const partMembers = input.members.count;
	const current = inLayout(input.members, runLayout, layout);
	const users: UserChange[] | undefined = input.collectUsers ? [] : undefined;
	const sender = new Sender(input, memory, layout, users);
	const session: MirrorSession = existing ?? {
		id,
		partKey: input.partKey,
		dryRun: input.dryRun,
		state: 'open',
		startedAt: now(),
		lastPartAt: now(),
		abandonAfterMs: input.abandonAfterMs,
		types: [...runLayout.types],
		firstRun: false,
		parts: 0,
		listed: 0,
		notSynced: 0,
		added: 0,
		requests: 0,
	};
	session.parts++;
	session.listed += input.listed;
	session.notSynced += input.notSynced;
	session.lastPartAt = now();

	// Earlier parts' members join this part's (after them: this part's members keep their numbers for the output).
	const addedByEarlierParts: number[] = [];
	if (input.lastPart && existing) {
		await storage.readParts(id, runLayout.width, (records, count, op) => {
			const converted = sameLayout(runLayout, layout) ? records : convertRecords(records, count, runLayout, layout);
			for (let n = 0; n < count; n++) {
				const row = current.add(converted, n * layout.width);
				if (op === 'add') addedByEarlierParts.push(row >= 0 ? row : -row - 1);
			}
		});
	}
	const list = current.records();
	const comparison = await compareWithMemory(current, memory, layout, input.lastPart);
	const unconfirmedBefore = memory.unconfirmed().count;
	if (!existing) {
		// Members left unconfirmed by an earlier run are remembered too: a run that may remove them is no first run;
		// nor is a run after one that emptied the audience (allowed empty list).
		session.firstRun = comparison.remembered === 0 && unconfirmedBefore === 0 && !memory.hasHistory;
		session.rememberedAtStart = comparison.remembered + unconfirmedBefore;
	}
	// What earlier parts added is remembered now, yet new to this mirror, as in one run: not unchanged, and a removed
	// member sharing an identifier with it changed identifiers rather than left.
	let unchanged = comparison.unchanged;
	for (const row of addedByEarlierParts) {
		if (comparison.known[row] !== 1) continue;
		comparison.known[row] = 2;
		unchanged--;
	}
	const toAdd = newMembers(comparison.known, current.count);
	const addUser = (row: number): UserChange =>
		row < partMembers ? { action: 'add', status: 'synced', member: row } : { action: 'add', status: 'synced', ids: idsOf(list, row * layout.width, layout) };

	const outcome: MirrorOutcome = {
		partKey: input.partKey,
		lastPart: input.lastPart,
		dryRun: input.dryRun,
		firstRun: session.firstRun,
		parts: session.parts,
		listed: session.listed,
		members: current.count,
		notSynced: session.notSynced,
		rememberedBefore: comparison.remembered,
		unchanged,
		added: session.added,
		removed: 0,
		changed: 0,
		errored: 0,
		erroredReasons: sender.reasons,
		rememberedAfter: comparison.remembered,
		unconfirmed: unconfirmedBefore,
		requests: session.requests,
		abandoned,
		users: users ?? [],
	};

	if (!input.lastPart) {
		const added = await sender.run('add', list, toAdd, addUser);
		if (!input.dryRun) session.added += added;
		session.requests += sender.requests;
		// Staged apart: the members new to the mirror (sent by this part) and the others.
		const staged = input.members.records();
		const keepMs = session.abandonAfterMs + ABANDONED_KEPT_MS;
		const knownRows = Int32Array.from({ length: partMembers - toAdd.length });
		for (let row = 0, at = 0; row < partMembers; row++) if (comparison.known[row] !== 0) knownRows[at++] = row;
		if (knownRows.length > 0) await storage.appendPart(id, 'part', recordsOf(staged, knownRows, runLayout.width), knownRows.length, keepMs);
		if (toAdd.length > 0) await storage.appendPart(id, 'add', recordsOf(staged, toAdd, runLayout.width), toAdd.length, keepMs);
		await storage.writeSession(session);
		if (!input.dryRun) await memory.compact(runLayout);
		return {
			...outcome,
			added: session.added + (input.dryRun ? added : 0),
			errored: sender.errored,
			requests: session.requests,
			rememberedAfter: input.dryRun ? comparison.remembered : comparison.remembered + added,
			unconfirmed: memory.unconfirmed().count,
		};
	}

	const removed: RecordList = comparison.removed;
	const plan = planRemovals(current, comparison.known, removed, layout);
	// Unconfirmed members count like remembered ones here: TikTok may hold them, and a broken list must not remove them either.
	let leaving = 0;
	for (let row = 0; row < removed.count; row++) leaving += 1 - plan.changed[row];
	// Weighed against what was remembered when the mirror started: its own parts' adds must not make room for removals.
	const refusal = refusalOf(input, existing?.rememberedAtStart ?? comparison.remembered + outcome.unconfirmed, current.count, leaving);
	// Completed first, parts dropped after: a crash in between must not leave an open mirror without its parts (a
	// retried last part would then remove every member of the earlier parts).
	const endSession = async () => {
		if (!existing && input.rememberKey === false) return;
		Object.assign(session, { state: 'completed', endedAt: now() });
		await storage.writeSession(session);
		if (existing) await storage.dropParts(id);
	};
	// Refused, the mirror stays open with its parts: the last part may come again with the option raised (else it is
	// abandoned in time, removing nothing).
	if (refusal) return { ...outcome, refusal };

	const removedRecords = removed.records();
	const removeRows = Int32Array.from({ length: removed.count }, (_, n) => n);
	const removeUser = (row: number): UserChange => ({
		action: 'remove',
		status: 'synced',
		ids: idsOf(removedRecords, row * layout.width, layout),
		...(plan.changed[row] === 1 ? { changed: true } : {}),
	});
	let changedAccepted = 0;
	let presentRemoved = 0;
	const removedAccepted = await sender.run('remove', removedRecords, removeRows, removeUser, plan.keep, (rows) => {
		for (const row of rows) {
			changedAccepted += plan.changed[row];
			if (row < comparison.unconfirmedFrom) presentRemoved++;
		}
	});
	const addedNow = await sender.run('add', list, toAdd, addUser);
	if (!input.dryRun) session.added += addedNow;
	session.requests += sender.requests;
	if (!input.dryRun) await memory.compact(runLayout);
	// Every remembered member that left was processed (removed, or unconfirmed after a failure): none is present now.
	const rememberedAfter = comparison.remembered - (input.dryRun ? presentRemoved : comparison.unconfirmedFrom) + addedNow;
	await endSession();
	return {
		...outcome,
		added: input.dryRun ? session.added + addedNow : session.added,
		removed: removedAccepted,
		changed: changedAccepted,
		errored: sender.errored,
		rememberedAfter,
		unconfirmed: input.dryRun ? outcome.unconfirmed : memory.unconfirmed().count,
		requests: session.requests,
	};
}
