import type { MappingAction } from '../../shared/transport/types';
import type { WindowEntry } from './buffer';
import { PENDING } from './chunk';
import type { BacklogFullError } from './errors';
import type { RunTallies, SubmitResult, UserOutcome } from './types';

/** Each user's outcome (shared per chunk) and the run's tallies; `entries[i]` is undefined for a user not accepted. */
export function runResult(
	entries: ReadonlyArray<WindowEntry | undefined>,
	notSynced: number,
	waitedForDelivery: boolean,
	rejection: BacklogFullError | undefined,
): SubmitResult {
	const notAccepted: UserOutcome = Object.freeze({
		status: 'rejected',
		reason: rejection?.message ?? 'the sync engine was reset before these users were accepted',
	});
	const outcomes = new Array<UserOutcome>(entries.length);
	const actions = new Array<MappingAction | undefined>(entries.length);
	const tallies: RunTallies = { entered: notSynced, notSynced, synced: 0, pending: 0, errored: 0, rejected: 0, added: 0, removed: 0 };
	for (let index = 0; index < entries.length; index++) {
		const chunk = entries[index]?.chunk;
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
