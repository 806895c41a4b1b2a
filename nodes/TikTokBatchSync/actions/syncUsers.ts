import { NodeOperationError, type IDataObject, type IExecuteFunctions, type INodeExecutionData } from 'n8n-workflow';

import { resolveAudience } from '../../shared/audiences';
import { checkTikTokId, itemActionReader, matchValueReaders, readMatchSettings, type ItemAction } from '../../shared/descriptions';
import { toNodeError } from '../../shared/errors';
import { fixedLocatorValue, fixedParameter, nodeOf } from '../../shared/fastParameters';
import { idTypeFor } from '../../shared/identifiers/fields';
import { dedupeKey, hashUser } from '../../shared/identifiers/hash';
import { sharedAudienceNames } from '../../shared/sharedState';
import { engineContextFor, sharedStateFailure } from '../coordinator';
import { StateUnavailableError, tallyReasons, type SyncUser } from '../engine';
import { bookFor } from '../journalStore';
import { metricsItem, syncRunMetrics } from '../metrics';
import { readSyncOptions } from '../options';
import { reusedSenderFor } from '../sender';

/**
 * Sync Users: hash this run's users, hand them to the process-wide engine, wait (or not) for delivery, keep the
 * engine's state where it lives (static-data journal in regular mode, Redis in queue mode), and emit the metrics
 * item and the users with their status.
 */
export async function syncUsers(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const node = nodeOf(this);
	const engineContext = await engineContextFor(this);
	const coordinator = engineContext.engine;
	const journal = bookFor(this, coordinator);
	const scope = journal.scopeOf(node.name);
	const { settings, requestsPerSecond, waitForDelivery: waitChoice } = readSyncOptions(this);
	// Auto: in queue mode a waiting execution would hold one of the worker's slots for the whole window.
	const waitForDelivery = waitChoice === 'auto' ? coordinator.kind === 'in-process' : waitChoice === 'wait';
	const action = fixedParameter<'add' | 'remove' | 'perItem'>(this, 'action', 'add');
	const readItemAction = action === 'perItem' ? itemActionReader(this, items) : undefined;
	const match = readMatchSettings(this);
	if (match.fields.length === 0) throw new NodeOperationError(node, 'Choose at least one field in "Fields to Match"');

	const sender = await reusedSenderFor(this, scope, requestsPerSecond);
	let restoreProblem: string | undefined;
	try {
		await journal.setProfile(node.name, { appKey: sender.appKey, requestsPerSecond, settings });
		restoreProblem = await journal.restore(node.name, sender, settings);
	} catch (error) {
		throw sharedStateFailure(this, engineContext, error);
	}
	// An unreadable journal cannot be restored; say so once, and go on syncing the new users.
	if (restoreProblem) this.addExecutionHints({ message: restoreProblem, location: 'outputPane' });

	const advertiserId = fixedLocatorValue(this, 'advertiserId');
	const selection = fixedParameter<'existing' | 'byName'>(this, 'audienceSelection', 'existing');
	if (!advertiserId) throw new NodeOperationError(node, 'Choose an ad account');
	checkTikTokId(node, 'advertiserId', advertiserId);
	const ref =
		selection === 'byName'
			? String(fixedParameter(this, 'audienceName', ''))
			: fixedLocatorValue(this, 'audienceId');
	if (selection !== 'byName' && ref) checkTikTokId(node, 'audienceId', ref);
	let audienceId: string;
	try {
		// In queue mode two workers resolving one name at once must make one audience.
		audienceId = await resolveAudience(sender.client, { advertiserId, selection, ref }, sharedAudienceNames(engineContext.state));
	} catch (error) {
		throw toNodeError(node, error);
	}
	if (!audienceId) throw new NodeOperationError(node, 'Choose an audience or enter its name');

	// Hash every user; invalid ones are "not synced" with a reason and never reach the engine.
	const readValues = matchValueReaders(this, items, match.fields);
	const users: SyncUser[] = [];
	const userIndexOfItem = new Int32Array(items.length).fill(-1);
	const notSyncedReasonOfItem: Array<string | undefined> = new Array(items.length).fill(undefined);
	const notSyncedReasons: string[] = [];
	const actionOfItem: Array<ItemAction | undefined> = new Array(items.length).fill(action === 'perItem' ? undefined : action);
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const itemAction = readItemAction?.(itemIndex);
		if (itemAction?.action) actionOfItem[itemIndex] = itemAction.action;
		const user = itemAction?.reason === undefined ? hashUser(match.fields, readValues(itemIndex), match) : undefined;
		const notSyncedReason = itemAction?.reason ?? user?.notSyncedReason;
		if (notSyncedReason !== undefined || !user) {
			notSyncedReasonOfItem[itemIndex] = notSyncedReason;
			notSyncedReasons.push(notSyncedReason as string);
			continue;
		}
		userIndexOfItem[itemIndex] = users.length;
		if (itemAction) {
			users.push({ key: dedupeKey(user.ids), ids: user.ids, action: itemAction.action === 'remove' ? 'delete' : 'add' });
		} else {
			users.push({ key: dedupeKey(user.ids), ids: user.ids });
		}
	}

	const result = await coordinator.submit({
		scope,
		destination: {
			advertiserId,
			audienceId,
			// Per item, each user carries its own action; this is the default for users without one.
			action: action === 'remove' ? 'delete' : 'add',
			idSchema: match.fields.map((field) => idTypeFor(field, match.deviceIdHash)),
		},
		users,
		notSyncedReasons,
		send: sender.send,
		pacer: sender.pacer,
		settings,
		waitForDelivery,
	});
	journal.save();

	const metrics = syncRunMetrics({
		action,
		advertiserId,
		audienceId,
		proceeded: items.length,
		tallies: result.tallies,
		notSyncedReasons: tallyReasons(notSyncedReasons),
		erroredReasons: tallyReasons(result.outcomes.filter((outcome) => outcome.status === 'errored').map((outcome) => outcome.reason)),
		totals: await coordinator.report(scope),
		engine: coordinator.kind,
		waitedForDelivery: waitForDelivery,
		noPersistence: engineContext.state.noPersistence,
	});

	// Users with the same outcome share one (frozen) tiktokSync object: at 100 users per execution, one object per
	// distinct outcome instead of one per user.
	const statuses = new Map<string, IDataObject>();
	const statusOf = (status: string, reason: string | undefined, itemAction: string | undefined): IDataObject => {
		const key = `${status}\u0000${reason ?? ''}\u0000${itemAction ?? ''}`;
		let value = statuses.get(key);
		if (!value) {
			value = Object.freeze({ status, ...(reason ? { reason } : {}), audienceId, ...(itemAction ? { action: itemAction } : {}) }) as IDataObject;
			statuses.set(key, value);
		}
		return value;
	};
	const usersOut: INodeExecutionData[] = new Array(items.length);
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const userIndex = userIndexOfItem[itemIndex];
		const outcome = userIndex >= 0 ? result.outcomes[userIndex] : undefined;
		const status = outcome ? outcome.status : 'not_synced';
		// The action applied to the user: a later item for the same user in the window may have changed it.
		const applied = userIndex >= 0 ? result.actions[userIndex] : undefined;
		const itemAction = applied ? (applied === 'delete' ? 'remove' : 'add') : actionOfItem[itemIndex];
		const reason = outcome ? outcome.reason : notSyncedReasonOfItem[itemIndex];
		usersOut[itemIndex] = {
			json: { ...items[itemIndex].json, tiktokSync: statusOf(status, reason, itemAction) },
			pairedItem: { item: itemIndex },
		};
	}

	if (result.rejection) {
		const { rejection } = result;
		const message =
			rejection instanceof StateUnavailableError ? sharedStateFailure(this, engineContext, rejection.cause).message : rejection.message;
		const error = new NodeOperationError(node, message, {
			description: `${result.tallies.rejected} of ${items.length} users were refused; the others were accepted and are journaled.`,
		});
		if (!this.continueOnFail()) throw error;
	}
	if (this.getMode() === 'manual' && result.tallies.pending > 0) {
		this.addExecutionHints({
			message: `${result.tallies.pending} ${result.tallies.pending === 1 ? 'user is' : 'users are'} still pending. They are retried in memory only: manual runs are not saved, so an n8n restart loses them. In production (an activated or published workflow) pending users are kept in the workflow and survive a restart.`,
			location: 'outputPane',
		});
	}
	return [[metricsItem(metrics, items.length)], usersOut];
}
