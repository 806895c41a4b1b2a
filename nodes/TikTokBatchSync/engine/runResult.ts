import { PENDING, type Chunk } from './chunk';
import type { BacklogFullError } from './errors';
import type { RunTallies, SubmitResult, UserOutcome } from './types';

/** Each user's outcome (shared per chunk) and the run's tallies. */
export function runResult(
	userCount: number,
	notSynced: number,
	chunks: Chunk[],
	chunkIndexOfUser: Int32Array,
	waitedForDelivery: boolean,
	rejection: BacklogFullError | undefined,
): SubmitResult {
	const notAccepted: UserOutcome = Object.freeze({
		status: 'rejected',
		reason: rejection?.message ?? 'the sync engine was reset before these users were accepted',
	});
	const outcomes = new Array<UserOutcome>(userCount);
	const tallies: RunTallies = { entered: notSynced, notSynced, synced: 0, pending: 0, errored: 0, rejected: 0 };
	for (let index = 0; index < userCount; index++) {
		const chunkIndex = chunkIndexOfUser[index];
		const outcome = chunkIndex < 0 ? notAccepted : waitedForDelivery ? chunks[chunkIndex].outcome : PENDING;
		outcomes[index] = outcome;
		tallies[outcome.status]++;
		if (chunkIndex >= 0) tallies.entered++;
	}
	return { outcomes, tallies, ...(rejection ? { rejection } : {}) };
}
