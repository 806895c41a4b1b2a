import type { MappingAction } from '../../shared/transport/types';
import { PENDING, type Chunk } from './chunk';
import type { BacklogFullError, StateUnavailableError } from './errors';
import type { RunTallies, SubmitResult, SyncUser, UserOutcome } from './types';

/** Why users of a run were turned away: a full backlog, or shared state that could not be reached. */
export type Rejection = BacklogFullError | StateUnavailableError;

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

/** The outcome of users that were not accepted. */
export function notAcceptedOutcome(rejection: Rejection | undefined): UserOutcome {
	return Object.freeze({
		status: 'rejected',
		reason: rejection?.message ?? 'the sync engine was reset before these users were accepted',
	});
}

/**
 * A run's result from each user's outcome and the action of the request carrying it (undefined: not accepted). The
 * one place the tallies are counted, for both engines.
 */
export function tallied(
	outcomes: UserOutcome[],
	actions: Array<MappingAction | undefined>,
	notSynced: number,
	rejection: Rejection | undefined,
): SubmitResult {
	const tallies: RunTallies = { entered: notSynced, notSynced, synced: 0, pending: 0, errored: 0, rejected: 0, added: 0, removed: 0 };
	for (let index = 0; index < outcomes.length; index++) {
		const outcome = outcomes[index];
		tallies[outcome.status]++;
		const action = actions[index];
		if (action === undefined) continue;
		tallies.entered++;
		if (outcome.status === 'synced') tallies[action === 'delete' ? 'removed' : 'added']++;
	}
	return { outcomes, actions, tallies, ...(rejection ? { rejection } : {}) };
}

/** Each user's outcome (shared per chunk) and the run's tallies. */
export function runResult(
	placed: PlacedUsers,
	notSynced: number,
	waitedForDelivery: boolean,
	rejection: Rejection | undefined,
): SubmitResult {
	const notAccepted = notAcceptedOutcome(rejection);
	const userCount = placed.users.length;
	const outcomes = new Array<UserOutcome>(userCount);
	const actions = new Array<MappingAction | undefined>(userCount);
	for (let index = 0; index < userCount; index++) {
		const chunk = carrierOf(placed, index);
		outcomes[index] = !chunk ? notAccepted : waitedForDelivery ? chunk.outcome : PENDING;
		actions[index] = chunk?.destination.action;
	}
	return tallied(outcomes, actions, notSynced, rejection);
}
