import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
} from 'n8n-workflow';

import { z } from 'zod';

import { ensureAudience } from '../../shared/audiences';
import { getConnection, toNodeError } from '../../shared/connection';
import { matchValueReaders, readMatchSettings } from '../../shared/descriptions';
import { dedupeKey, hashUser, idTypeFor } from '../../shared/identifiers/hash';
import { TIKTOK_MAX_REQUESTS_PER_SECOND } from '../../shared/transport/rateLimit';
import { DEFAULT_SYNC_SETTINGS, getCoordinator, MAX_USERS_PER_REQUEST, type SyncSettings, type SyncUser } from '../engine';
import { appKeyFor } from '../../shared/transport/client';
import { liveNodeNames, readJournals, scopeName, scopeProfiles, workflowKey, writeJournals } from '../journalStore';
import { countersJson, senderFor } from './shared';

const OPTION_LABELS: Record<string, string> = {
	windowSeconds: 'Window (Seconds)',
	usersPerRequest: 'Users per Request',
	requestsPerSecond: 'Requests per Second',
	retryHorizonHours: 'Retry For (Hours)',
	waitForDelivery: 'Wait for Delivery',
	maxPendingUsers: 'Max Pending Users',
};

/** The node's options, checked: a value out of range (often from an expression) is an error, not a silent clamp. */
const syncOptionsSchema = z
	.object({
		windowSeconds: z.number().min(0).max(300).default(DEFAULT_SYNC_SETTINGS.windowMs / 1000),
		usersPerRequest: z.number().int().min(1).max(MAX_USERS_PER_REQUEST).default(MAX_USERS_PER_REQUEST),
		requestsPerSecond: z.number().min(1).max(TIKTOK_MAX_REQUESTS_PER_SECOND).default(TIKTOK_MAX_REQUESTS_PER_SECOND),
		retryHorizonHours: z.number().gt(0).max(24 * 30).default(DEFAULT_SYNC_SETTINGS.retryHorizonMs / 3_600_000),
		waitForDelivery: z.boolean().default(true),
		maxPendingUsers: z.number().int().min(1).max(10_000_000).default(DEFAULT_SYNC_SETTINGS.maxPendingUsers),
	})
	.passthrough();

export function readSyncSettings(context: IExecuteFunctions): { settings: SyncSettings; requestsPerSecond: number; waitForDelivery: boolean } {
	const parsed = syncOptionsSchema.safeParse(context.getNodeParameter('options', 0, {}));
	if (!parsed.success) {
		const problems = parsed.error.issues.map((issue) => `${OPTION_LABELS[String(issue.path[0])] ?? String(issue.path[0])}: ${issue.message}`);
		throw new NodeOperationError(context.getNode(), `Invalid option value. ${problems.join('; ')}`, {
			description: 'Fix the value in the node’s Options (an expression may have produced it).',
		});
	}
	const options = parsed.data;
	return {
		settings: {
			windowMs: Math.round(options.windowSeconds * 1000),
			usersPerRequest: options.usersPerRequest,
			retryHorizonMs: Math.round(options.retryHorizonHours * 3_600_000),
			maxPendingUsers: options.maxPendingUsers,
		},
		requestsPerSecond: options.requestsPerSecond,
		waitForDelivery: options.waitForDelivery,
	};
}

/**
 * Sync Users: hash this run's users, hand them to the process-wide coordinator, wait (or not) for delivery, journal
 * the coordinator's state in workflow static data, and emit the metrics item and the users with their status.
 */
export async function syncUsers(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const node = this.getNode();
	const workflow = workflowKey(this.getWorkflow().id, this.getMode());
	const scope = scopeName(workflow, node.name);
	const coordinator = getCoordinator();
	const { settings, requestsPerSecond, waitForDelivery } = readSyncSettings(this);
	const action = this.getNodeParameter('action', 0, 'add') as 'add' | 'remove';
	const match = readMatchSettings(this);
	if (match.fields.length === 0) throw new NodeOperationError(node, 'Choose at least one field in "Fields to Match"');

	const sender = senderFor(await getConnection(this), scope, requestsPerSecond);
	scopeProfiles().set(scope, { appKey: appKeyFor(sender.connection), requestsPerSecond, settings });
	const staticData = this.getWorkflowStaticData('global');
	try {
		const journal = this.getMode() === 'manual' ? undefined : readJournals(staticData)[node.name];
		coordinator.restore(scope, journal, sender.send, sender.pacer, settings);
	} catch (error) {
		// An unreadable journal cannot be restored; say so once, and go on syncing the new users.
		this.addExecutionHints({ message: (error as Error).message, location: 'outputPane' });
	}
	liveNodeNames(workflow).add(node.name);

	const advertiserId = String(this.getNodeParameter('advertiserId', 0, '', { extractValue: true }) ?? '').trim();
	const selection = this.getNodeParameter('audienceSelection', 0, 'existing') as 'existing' | 'byName';
	if (!advertiserId) throw new NodeOperationError(node, 'Choose an ad account');
	let audienceId: string;
	try {
		audienceId =
			selection === 'byName'
				? (await ensureAudience(sender.client, advertiserId, String(this.getNodeParameter('audienceName', 0, '')), true, true)).audienceId
				: String(this.getNodeParameter('audienceId', 0, '', { extractValue: true }) ?? '').trim();
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
	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		const user = hashUser(match.fields, readValues(itemIndex), match);
		if (user.notSyncedReason !== undefined) {
			notSyncedReasonOfItem[itemIndex] = user.notSyncedReason;
			notSyncedReasons.push(user.notSyncedReason);
			continue;
		}
		userIndexOfItem[itemIndex] = users.length;
		users.push({ key: dedupeKey(user.ids), ids: user.ids });
	}

	const result = await coordinator.submit({
		scope,
		destination: {
			advertiserId,
			audienceId,
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
	// n8n never saves a manual run's static data; writing it would only hide the production journal in this run.
	if (this.getMode() !== 'manual') writeJournals(staticData, workflow, coordinator);

	const tally = (reasons: Array<string | undefined>) => {
		const counts: Record<string, number> = {};
		for (const reason of reasons) if (reason) counts[reason] = (counts[reason] ?? 0) + 1;
		return counts;
	};
	const erroredReasons = tally(result.outcomes.filter((o) => o.status === 'errored').map((o) => o.reason));
	const metrics: IDataObject = {
		operation: 'sync',
		action,
		advertiserId,
		audienceId,
		entered: result.tallies.entered,
		proceeded: items.length,
		synced: result.tallies.synced,
		notSynced: result.tallies.notSynced,
		notSyncedReasons: tally(notSyncedReasons),
		pending: result.tallies.pending,
		errored: result.tallies.errored,
		erroredReasons,
		rejected: result.tallies.rejected,
		totals: countersJson(coordinator.report(scope)),
	};

	const usersOut: INodeExecutionData[] = items.map((item, itemIndex) => {
		const userIndex = userIndexOfItem[itemIndex];
		const outcome = userIndex >= 0 ? result.outcomes[userIndex] : undefined;
		const status = outcome ? outcome.status : 'not_synced';
		const reason = outcome ? outcome.reason : notSyncedReasonOfItem[itemIndex];
		return {
			json: { ...item.json, tiktokSync: { status, ...(reason ? { reason } : {}), audienceId, action } },
			pairedItem: { item: itemIndex },
		};
	});

	if (result.rejection) {
		const error = new NodeOperationError(node, result.rejection.message, {
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
	const allItems = items.map((_, item) => ({ item }));
	return [[{ json: metrics, pairedItem: allItems }], usersOut];
}
