import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import {
	forgetAudienceAfterFailure,
	MIN_TARGETABLE_AUDIENCE_SIZE,
	resolveAudience,
	type AudienceChoice,
} from '../../../shared/audiences';
import { describeTikTokFailure, toNodeError } from '../../../shared/errors';
import {
	advertiserProperty,
	audienceTargetProperties,
	checkTikTokId,
	identifierOptionProperties,
	itemActionProperty,
	itemActionReader,
	matchFieldProperties,
	matchValueReaders,
	readMatchSettings,
	type ItemAction,
} from '../../../shared/descriptions';
import { parameterReader } from '../../../shared/fastParameters';
import { idTypeFor } from '../../../shared/identifiers/fields';
import { dedupeKey, hashUser } from '../../../shared/identifiers/hash';
import { sharedAudienceNames, type SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { isTikTokApiError } from '../../../shared/transport/errors';
import { batchesOf, buildMappingRequest } from '../../../shared/transport/mapping';
import type { MappingAction } from '../../../shared/transport/types';

const RETRY_DELAYS_MS = [1_000, 3_000];

export function membershipDescription(operation: MembershipOperation): INodeProperties[] {
	const show = { resource: ['user'], operation: [operation] };
	return [
		...(operation === 'addOrRemove' ? [itemActionProperty({ show })] : []),
		advertiserProperty({ show }),
		...audienceTargetProperties({ show }),
		...matchFieldProperties({ show }),
		{
			displayName: 'Options',
			name: 'options',
			type: 'collection',
			placeholder: 'Add Option',
			default: {},
			displayOptions: { show },
			options: [
				...identifierOptionProperties(),
				{
					displayName: 'Dry Run',
					name: 'dryRun',
					type: 'boolean',
					default: false,
					description: 'Whether to only normalise, hash and count the users, sending nothing to TikTok',
				},
			],
		},
		{
			displayName: `Membership takes hours to show in TikTok, and an audience shows a size only from about ${MIN_TARGETABLE_AUDIENCE_SIZE.toLocaleString('en-US')} matched users. For users arriving one by one, the TikTok Batch Sync node batches, paces and retries.`,
			name: 'membershipNotice',
			type: 'notice',
			default: '',
			displayOptions: { show },
		},
	];
}

interface PendingUser {
	ids: Array<string | undefined>;
	/** The user's last action in this run wins (an opt-in then an opt-out: removed). */
	action: ItemAction;
	itemIndexes: number[];
}

export type MembershipOperation = 'add' | 'remove' | 'addOrRemove';

function sleep(ms: number): Promise<void> {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A few quick retries for transient failures; long retries are the Batch Sync node's job. */
export async function withQuickRetries<T>(work: () => Promise<T>): Promise<T> {
	for (let attempt = 0; ; attempt++) {
		try {
			return await work();
		} catch (error) {
			if (!isTikTokApiError(error) || error.errorClass !== 'retryable' || attempt >= RETRY_DELAYS_MS.length) throw error;
			await sleep(RETRY_DELAYS_MS[attempt]);
		}
	}
}

/**
 * Add or remove users. All input items go out in as few requests as possible: users are grouped by target
 * audience, duplicates are sent once, and each request carries up to 10,000 users.
 */
export async function executeMembership(
	this: IExecuteFunctions,
	client: TikTokClient,
	operation: MembershipOperation,
	state: SharedState,
): Promise<INodeExecutionData[]> {
	const items = this.getInputData();
	const readItemAction = operation === 'addOrRemove' ? itemActionReader(this, items) : undefined;
	const settings = readMatchSettings(this);
	const { dryRun = false } = this.getNodeParameter('options', 0, {}) as { dryRun?: boolean };
	if (settings.fields.length === 0) {
		throw new NodeOperationError(this.getNode(), 'Choose at least one field in "Fields to Match"');
	}
	const idSchema = settings.fields.map((field) => idTypeFor(field, settings.deviceIdHash));
	const results: IDataObject[] = new Array(items.length);
	const groups = new Map<string, { choice: AudienceChoice; users: Map<string, PendingUser> }>();
	const readAdvertiser = parameterReader(this, 'advertiserId', items, '');
	const readSelection = parameterReader(this, 'audienceSelection', items, 'existing');
	const readAudienceName = parameterReader(this, 'audienceName', items, '');
	const readAudienceId = parameterReader(this, 'audienceId', items, '');
	const readValues = matchValueReaders(this, items, settings.fields);

	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const selection = readSelection(itemIndex) as AudienceChoice['selection'];
			const choice: AudienceChoice = {
				advertiserId: String(readAdvertiser(itemIndex) ?? '').trim(),
				selection,
				ref: String((selection === 'byName' ? readAudienceName(itemIndex) : readAudienceId(itemIndex)) ?? '').trim(),
			};
			if (!choice.advertiserId) throw new NodeOperationError(this.getNode(), 'Choose an ad account', { itemIndex });
			if (!choice.ref) throw new NodeOperationError(this.getNode(), 'Choose an audience or enter its name', { itemIndex });
			checkTikTokId(this.getNode(), 'advertiserId', choice.advertiserId, itemIndex);
			if (selection !== 'byName') checkTikTokId(this.getNode(), 'audienceId', choice.ref, itemIndex);
			const itemAction = readItemAction ? readItemAction(itemIndex) : { action: operation as ItemAction };
			const base: IDataObject = { action: itemAction.action ?? operation, advertiserId: choice.advertiserId };
			if (itemAction.reason !== undefined) {
				results[itemIndex] = { ...base, status: 'not_synced', reason: itemAction.reason };
				continue;
			}
			const user = hashUser(settings.fields, readValues(itemIndex), settings);
			if (user.notSyncedReason !== undefined) {
				results[itemIndex] = { ...base, status: 'not_synced', reason: user.notSyncedReason };
				continue;
			}
			const groupKey = `${choice.advertiserId}\u0000${choice.selection}\u0000${choice.ref}`;
			let group = groups.get(groupKey);
			if (!group) {
				group = { choice, users: new Map() };
				groups.set(groupKey, group);
			}
			const key = dedupeKey(user.ids);
			const existing = group.users.get(key);
			if (existing) {
				existing.itemIndexes.push(itemIndex);
				existing.action = itemAction.action;
			} else {
				group.users.set(key, { ids: user.ids, action: itemAction.action, itemIndexes: [itemIndex] });
			}
			results[itemIndex] = {
				...base,
				status: 'pending',
				matchedFields: settings.fields.filter((_, slot) => user.ids[slot] !== undefined),
				...(user.problems.length ? { ignoredFields: user.problems } : {}),
			};
		} catch (error) {
			const nodeError = toNodeError(this.getNode(), error, itemIndex);
			if (!this.continueOnFail()) throw nodeError;
			results[itemIndex] = { status: 'error', error: nodeError.message };
		}
	}

	for (const { choice, users } of groups.values()) {
		const userList = [...users.values()];
		const markAll = (fields: IDataObject) => {
			for (const user of userList) for (const itemIndex of user.itemIndexes) Object.assign(results[itemIndex], fields);
		};
		if (dryRun) {
			markAll({ status: 'dry_run', audience: choice.ref });
			continue;
		}
		let audienceId: string;
		try {
			audienceId = await withQuickRetries(() => resolveAudience(client, choice, sharedAudienceNames(state)));
		} catch (error) {
			const firstItem = userList[0]?.itemIndexes[0];
			const nodeError = toNodeError(this.getNode(), error, firstItem);
			if (!this.continueOnFail()) throw nodeError;
			markAll({ status: 'error', error: nodeError.message });
			continue;
		}
		// One request list per action; a user is in one of them only (its last action), so their order does not matter.
		for (const itemAction of ['remove', 'add'] as const) {
			const actionUsers = userList.filter((user) => user.action === itemAction);
			const action: MappingAction = itemAction === 'remove' ? 'delete' : 'add';
			const target = { advertiserId: choice.advertiserId, audienceId, action, idSchema };
			let start = 0;
			for (const batch of batchesOf(target, actionUsers)) {
				const sent = actionUsers.slice(start, start + batch.rows);
				start += batch.rows;
				const mark = (fields: IDataObject) => {
					for (const user of sent) for (const itemIndex of user.itemIndexes) Object.assign(results[itemIndex], { ...fields, audienceId, action: itemAction });
				};
				try {
					await withQuickRetries(() => client.segmentMapping(buildMappingRequest(batch)));
					mark({ status: 'synced' });
				} catch (error) {
					forgetAudienceAfterFailure(client.baseUrl, choice.advertiserId, audienceId, error);
					const nodeError = toNodeError(this.getNode(), error, sent[0].itemIndexes[0]);
					if (!this.continueOnFail()) throw nodeError;
					const reason = isTikTokApiError(error) ? describeTikTokFailure(error) : nodeError.message;
					mark({ status: 'error', error: nodeError.message, reason });
				}
			}
		}
	}

	const notSynced = results.filter((result) => result.status === 'not_synced').length;
	if (notSynced > 0) {
		this.addExecutionHints({
			message: `${notSynced} of ${items.length} users had no usable identifier and were not sent: see "reason" on each.`,
			location: 'outputPane',
		});
	}
	return results.map((result, itemIndex) => ({ json: { ...items[itemIndex].json, tiktokSync: result }, pairedItem: { item: itemIndex } }));
}
