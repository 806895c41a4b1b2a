import type { MappingAction } from '../../shared/transport/types';
import { PENDING, type Chunk } from './chunk';
import type { BacklogFullError } from './errors';
import type { RunTallies, SubmitResult, SyncUser, UserOutcome } from './types';

/** A run's users and where they entered: per user an index into the run's (few) chunks, -1 if not accepted. */
export interface PlacedUsers {
	users: ReadonlyArray<SyncUser>;
	chunks: ReadonlyArray<Chunk>;
	chunkIndexOfUser: Int32Array;
}

/** The chunk carrying a user: where it entered, unless a later action for it in the window moved it. */
export function carrierOf(placed: PlacedUsers, index: number): Chunk | undefined {
	const chunkIndex = placed.chunkIndexOfUser[index];
	if (chunkIndex < 0) return undefined;
	const chunk = placed.chunks[chunkIndex];
	return chunk.hasMovedUsers ? chunk.carrierOf(placed.users[index].key) : chunk;
}

/** Each user's outcome (shared per chunk) and the run's tallies. */
export function runResult(
	placed: PlacedUsers,
	notSynced: number,
	waitedForDelivery: boolean,
	rejection: BacklogFullError | undefined,
): SubmitResult {
	const notAccepted: UserOutcome = Object.freeze({
		status: 'rejected',
		reason: rejection?.message ?? 'the sync engine was reset before these users were accepted',
	});
	const userCount = placed.users.length;
	const outcomes = new Array<UserOutcome>(userCount);
	const actions = new Array<MappingAction | undefined>(userCount);
	const tallies: RunTallies = { entered: notSynced, notSynced, synced: 0, pending: 0, errored: 0, rejected: 0, added: 0, removed: 0 };
	for (let index = 0; index < userCount; index++) {
		const chunk = carrierOf(placed, index);
		const outcome = !chunk ? notAccepted : waitedForDelivery ? chunk.outcome : PENDING;
		outcomes[index] = outcome;
		tallies[outcome.status]++;
		if (!chunk) continue;
		actions[index] = chunk.destination.action;
		tallies.entered++;
		if (outcome.status === 'synced') tallies[chunk.destination.action === 'delete' ? 'removed' : 'added']++;
	}
	return { outcomes, actions, tallies, ...(rejection ? { rejection } : {}) };
}
