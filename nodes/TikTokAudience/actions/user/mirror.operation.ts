import {
	NodeOperationError,
	type IDataObject,
	type IExecuteFunctions,
	type INodeExecutionData,
	type INodeProperties,
} from 'n8n-workflow';

import { findAudienceByName, forgetAudienceAfterFailure, resolveAudience, type AudienceChoice } from '../../../shared/audiences';
import {
	advertiserProperty,
	audienceTargetProperties,
	checkTikTokId,
	identifierOptionProperties,
	matchFieldProperties,
	matchValueReaders,
	readMatchSettings,
} from '../../../shared/descriptions';
import { describeTikTokFailure, toNodeError } from '../../../shared/errors';
import { parameterReader } from '../../../shared/fastParameters';
import {
	hashList,
	mirrorPart,
	MirrorSessionError,
	type MirrorIdentity,
	type MirrorOutcome,
	type MirrorSession,
	type Refusal,
} from '../../../shared/mirror';
import { sharedAudienceNames, type SharedState } from '../../../shared/sharedState';
import type { TikTokClient } from '../../../shared/transport/client';
import { isTikTokApiError } from '../../../shared/transport/errors';
import { buildMappingRequest, type MappingBatch } from '../../../shared/transport/mapping';
import { withQuickRetries } from './membership';
import { mirrorMemoryError, mirrorPlaceFor } from './mirrorPlace';

const show = { resource: ['user'], operation: ['mirror'] };
const HOUR_MS = 3_600_000;
const LOOP_NODE_TYPE = 'n8n-nodes-base.splitInBatches';

const OPTION_NAMES = {
	maxRemovePercent: 'Max Share to Remove (%)',
	allowEmptyList: 'Allow Empty List',
	partKey: 'Part Key',
	lastPart: 'Last Part',
} as const;

export const description: INodeProperties[] = [
	advertiserProperty({ show }),
	...audienceTargetProperties({ show }),
	...matchFieldProperties({ show }),
	{
		displayName: 'Last Part',
		name: 'lastPart',
		type: 'boolean',
		default: true,
		description:
			'Whether these items end the list. Leave on when one run gets the whole list. For a list read in parts (Loop Over Items, pages of a query), make it true for the last part only: the audience loses members only after it.',
		hint: "In Loop Over Items: {{ $('Loop Over Items').context.noItemsLeft }}",
		displayOptions: { show },
	},
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
				displayName: OPTION_NAMES.allowEmptyList,
				name: 'allowEmptyList',
				type: 'boolean',
				default: false,
				description:
					'Whether a list without a single usable user empties the audience. Off: such a list (e.g. a query that failed quietly) removes nothing and the node fails.',
			},
			{
				displayName: 'Abandon After (Hours)',
				name: 'abandonAfterHours',
				type: 'number',
				typeOptions: { minValue: 0.01 },
				default: 12,
				description:
					'A mirror in parts whose last part has not come this long after its first is abandoned: its parts are dropped and it removes nothing (users its parts added stay)',
			},
			{
				displayName: 'Dry Run',
				name: 'dryRun',
				type: 'boolean',
				default: false,
				description: 'Whether to only report what would be added and removed, sending and remembering nothing',
			},
			{
				displayName: OPTION_NAMES.maxRemovePercent,
				name: 'maxRemovePercent',
				type: 'number',
				typeOptions: { minValue: 0, maxValue: 100 },
				default: 50,
				description:
					'A mirror that would remove more than this share of the members it remembers removes nothing and fails instead (a broken query must not wipe the audience). 100 turns the check off.',
			},
			{
				displayName: 'Output Changed Users',
				name: 'outputUsers',
				type: 'boolean',
				default: false,
				description:
					'Whether to output one item per user added, removed or not synced (with `tiktokSync`) after the summary. Removed users are not in the list: their items carry only their hashed identifiers.',
			},
			{
				displayName: OPTION_NAMES.partKey,
				name: 'partKey',
				type: 'string',
				default: '',
				placeholder: "e.g. {{ $now.toFormat('yyyy-MM-dd') }}",
				description:
					'Ties the parts of one mirror together. Empty: this execution (parts from a loop in one execution). For parts sent by several executions, give each part of one mirror the same key, and the next mirror another.',
			},
		],
	},
	{
		displayName:
			'The audience is made equal to the list: users new to it are added, users who left it are removed, unchanged users are not sent. The node remembers the hashed identifiers it sent (never raw values), per ad account and audience, in n8n’s user folder (in queue mode: Redis). Users put into the audience in other ways are never removed.',
		name: 'mirrorNotice',
		type: 'notice',
		default: '',
		displayOptions: { show },
	},
];

interface MirrorOptions {
	allowEmptyList?: boolean;
	abandonAfterHours?: number;
	dryRun?: boolean;
	maxRemovePercent?: number;
	outputUsers?: boolean;
	partKey?: string;
}

/** A node inside a Loop Over Items loop (the loop node is both before and after it) gets the list one batch per run. */
function insideLoop(context: IExecuteFunctions): string | undefined {
	const name = context.getNode().name;
	const before = context.getParentNodes(name).filter((node) => node.type === LOOP_NODE_TYPE);
	const after = new Set(context.getChildNodes(name).map((node) => node.name));
	return before.find((node) => after.has(node.name))?.name;
}

function countBy<T>(entries: T[], key: (entry: T) => string): Record<string, number> {
	const counts: Record<string, number> = {};
	for (const entry of entries) counts[key(entry)] = (counts[key(entry)] ?? 0) + 1;
	return counts;
}

function sessionProblem(context: IExecuteFunctions, error: MirrorSessionError): NodeOperationError {
	const session: MirrorSession = error.session;
	const key = `"${session.partKey}"`;
	const started = new Date(session.startedAt).toISOString();
	const message = {
		abandoned: `The mirror with part key ${key} (started ${started}, ${session.parts} part(s)) was abandoned: its last part did not come within ${session.abandonAfterMs / HOUR_MS} hours. Its parts were dropped and it removed nothing.`,
		completed: `The mirror with part key ${key} already got its last part (${started}): this part would start a new mirror of one part.`,
		fieldsChanged: `This part matches on other fields than the earlier parts of the mirror with part key ${key} (${session.types.join(', ')}).`,
	}[error.kind];
	const description = {
		abandoned: `Start the mirror again with a new ${OPTION_NAMES.partKey}, or raise "Abandon After (Hours)".`,
		completed: `Give each mirror its own ${OPTION_NAMES.partKey} (e.g. with the time it started), and set "${OPTION_NAMES.lastPart}" to true on the last part only.`,
		fieldsChanged: 'Use the same Fields to Match (and Device ID Hash) in every part of one mirror.',
	}[error.kind];
	return new NodeOperationError(context.getNode(), message, { description });
}

function refusalMessage(refusal: Refusal): { message: string; description: string } {
	const share = (refusal.removing / refusal.remembered) * 100;
	if (refusal.kind === 'emptyList') {
		return {
			message: `The list has no usable user, so this mirror would empty the audience (${refusal.remembered.toLocaleString('en-US')} remembered members): nothing was sent`,
			description: `If the audience really should be emptied, turn on the option "${OPTION_NAMES.allowEmptyList}". Otherwise check the node that reads the list.`,
		};
	}
	return {
		message: `This mirror would remove ${refusal.removing.toLocaleString('en-US')} of ${refusal.remembered.toLocaleString('en-US')} remembered members (${share.toFixed(1)}%), more than "${OPTION_NAMES.maxRemovePercent}" allows (${(refusal.allowedShare * 100).toFixed(0)}%): nothing was sent`,
		description: `If the list really shrank that much, raise the option "${OPTION_NAMES.maxRemovePercent}" for one run (100 turns the check off). Otherwise check the node that reads the list: a query that returned too little must not empty the audience.`,
	};
}

function summaryOf(outcome: MirrorOutcome, mirror: MirrorIdentity, where: string, notSyncedReasons: Record<string, number>): IDataObject {
	return {
		advertiserId: mirror.advertiserId,
		audienceId: mirror.audienceId,
		partKey: outcome.partKey,
		lastPart: outcome.lastPart,
		parts: outcome.parts,
		firstRun: outcome.firstRun,
		dryRun: outcome.dryRun,
		listed: outcome.listed,
		members: outcome.members,
		notSynced: outcome.notSynced,
		notSyncedReasons,
		unchanged: outcome.unchanged,
		added: outcome.added,
		removed: outcome.removed,
		identifiersChanged: outcome.changed,
		errored: outcome.errored,
		erroredReasons: outcome.erroredReasons,
		remembered: outcome.rememberedAfter,
		unconfirmed: outcome.unconfirmed,
		safetyLimitHit: outcome.refusal !== undefined,
		requests: outcome.requests,
		abandonedMirrors: outcome.abandoned.map((abandoned) => ({ ...abandoned, startedAt: new Date(abandoned.startedAt).toISOString() })),
		memory: where,
	};
}

/**
 * Mirror List: make the audience equal to the list (the items of this run, or of all parts of one mirror). The
 * comparison and the commit rules live in nodes/shared/mirror (mirror.ts); here: the items, the audience, TikTok and
 * the output.
 */
export async function execute(this: IExecuteFunctions, client: TikTokClient, state: SharedState): Promise<INodeExecutionData[]> {
	const items = this.getInputData();
	const node = this.getNode();
	const options = this.getNodeParameter('options', 0, {}) as MirrorOptions;
	const dryRun = options.dryRun === true;
	// Only a clear yes ends the mirror: an expression that yields nothing leaves it open (abandoned in time), never a
	// part mistaken for the whole list.
	const lastPartValue = this.getNodeParameter('lastPart', 0, true) as unknown;
	const lastPart = lastPartValue === true || lastPartValue === 'true';
	// In a loop, a fixed Last Part is a mistake either way: on, every batch would be a whole list (and remove the
	// others); off, the mirror would never end.
	const loop = insideLoop(this);
	if (loop && typeof node.parameters.lastPart !== 'string') {
		throw new NodeOperationError(node, `This node runs inside the loop of "${loop}", so each run gets one batch of the list: set "${OPTION_NAMES.lastPart}" to an expression`, {
			description: `Set "${OPTION_NAMES.lastPart}" to {{ $('${loop}').context.noItemsLeft }} so the audience loses members only after the last batch, or connect the node to the loop's "done" output to mirror the whole list at once.`,
		});
	}

	const readAdvertiser = parameterReader(this, 'advertiserId', items, '');
	const readSelection = parameterReader(this, 'audienceSelection', items, 'existing');
	const selection = readSelection(0) as AudienceChoice['selection'];
	const choice: AudienceChoice = {
		advertiserId: String(readAdvertiser(0) ?? '').trim(),
		selection,
		ref: String((selection === 'byName' ? parameterReader(this, 'audienceName', items, '')(0) : parameterReader(this, 'audienceId', items, '')(0)) ?? '').trim(),
	};
	if (!choice.advertiserId) throw new NodeOperationError(node, 'Choose an ad account');
	if (!choice.ref) throw new NodeOperationError(node, 'Choose an audience or enter its name');
	checkTikTokId(node, 'advertiserId', choice.advertiserId);
	if (selection !== 'byName') checkTikTokId(node, 'audienceId', choice.ref);

	const settings = readMatchSettings(this);
	if (settings.fields.length === 0) throw new NodeOperationError(node, 'Choose at least one field in "Fields to Match"');
	const list = hashList(settings.fields, settings, items.length, matchValueReaders(this, items, settings.fields));

	let audienceId: string | undefined;
	try {
		// A dry run creates nothing: an audience named but missing has nothing remembered either.
		audienceId =
			dryRun && selection === 'byName'
				? (await findAudienceByName(client, choice.advertiserId, choice.ref))?.audience_id
				: await withQuickRetries(() => resolveAudience(client, choice, sharedAudienceNames(state)));
	} catch (error) {
		throw toNodeError(node, error);
	}
	const mirror: MirrorIdentity = { baseUrl: client.baseUrl, advertiserId: choice.advertiserId, audienceId: audienceId ?? `name:${choice.ref}` };

	// After a refusal from TikTok that no retry can change (a deleted audience, a revoked token), later requests of
	// this run are not sent: they would fail the same way.
	let fatal: unknown;
	const send = async (batch: MappingBatch) => {
		if (fatal !== undefined) throw fatal;
		try {
			await withQuickRetries(() => client.segmentMapping(buildMappingRequest(batch)));
		} catch (error) {
			if (!isTikTokApiError(error) || error.errorClass !== 'retryable') fatal = error;
			forgetAudienceAfterFailure(client.baseUrl, choice.advertiserId, mirror.audienceId, error);
			// eslint-disable-next-line @n8n/community-nodes/require-node-api-error -- to mirrorPart, which counts it per user; never leaves the node as is
			throw error;
		}
	};
	const partKey = String(options.partKey ?? '').trim();
	let firstFailure: unknown;
	const place = mirrorPlaceFor(state);
	let outcome: MirrorOutcome;
	try {
		outcome = await place.withLock(mirror, async (signal) =>
			await mirrorPart(place.storageFor(mirror), {
				advertiserId: mirror.advertiserId,
				audienceId: mirror.audienceId,
				members: list.members,
				listed: items.length,
				notSynced: list.notSynced.length,
				partKey: partKey || `execution ${this.getExecutionId()}`,
				rememberKey: partKey !== '',
				lastPart,
				dryRun,
				abandonAfterMs: Math.max(0.01, Number(options.abandonAfterHours ?? 12)) * HOUR_MS,
				maxRemoveShare: Math.min(100, Math.max(0, Number(options.maxRemovePercent ?? 50))) / 100,
				allowEmptyList: options.allowEmptyList === true,
				send,
				describeFailure: (error) => {
					firstFailure ??= error;
					return describeTikTokFailure(error);
				},
				collectUsers: options.outputUsers === true,
				signal,
			}),
		);
	} catch (error) {
		if (error instanceof MirrorSessionError) throw sessionProblem(this, error);
		throw mirrorMemoryError(this, state, place, error);
	}

	const notSyncedReasons = countBy(list.notSynced, (entry) => entry.reason);
	const summary = summaryOf(outcome, mirror, place.where, notSyncedReasons);
	if (outcome.refusal) {
		const { message, description } = refusalMessage(outcome.refusal);
		if (!this.continueOnFail()) throw new NodeOperationError(node, message, { description });
		summary.error = message;
	}
	if (outcome.errored > 0) {
		const nodeError = toNodeError(node, firstFailure);
		const message = `TikTok did not accept ${outcome.errored.toLocaleString('en-US')} change(s) of this mirror: ${nodeError.message}. The next mirror sends them again; the changes TikTok accepted are remembered.`;
		if (!this.continueOnFail()) throw new NodeOperationError(node, message, { description: nodeError.description ?? undefined });
		summary.error = message;
	}
	if (outcome.firstRun && outcome.lastPart && !dryRun) {
		this.addExecutionHints({
			message: 'First mirror of this audience: everyone in the list was added and nothing was removed. Members put in the audience earlier (or by other means) stay.',
			location: 'outputPane',
		});
	}
	if (list.notSynced.length > 0) {
		this.addExecutionHints({
			message: `${list.notSynced.length} of ${items.length} items had no usable identifier and are not part of the mirror: see notSyncedReasons.`,
			location: 'outputPane',
		});
	}

	// Paired with the first item only: pairing with every item would store a list of a million pairs in the execution.
	const output: INodeExecutionData[] = [{ json: { tiktokMirror: summary }, pairedItem: { item: 0 } }];
	if (options.outputUsers) {
		const base = { advertiserId: mirror.advertiserId, audienceId: mirror.audienceId };
		for (const user of outcome.users) {
			const tiktokSync: IDataObject = { ...base, action: user.action, status: user.status };
			if (user.reason) tiktokSync.reason = user.reason;
			if (user.changed) tiktokSync.identifiersChanged = true;
			if (user.member !== undefined) {
				const itemIndex = list.itemOf[user.member];
				output.push({ json: { ...items[itemIndex].json, tiktokSync }, pairedItem: { item: itemIndex } });
			} else {
				output.push({ json: { tiktokSync: { ...tiktokSync, hashedIdentifiers: user.ids } }, pairedItem: { item: 0 } });
			}
		}
		for (const { itemIndex, reason } of list.notSynced) {
			output.push({ json: { ...items[itemIndex].json, tiktokSync: { ...base, status: 'not_synced', reason } }, pairedItem: { item: itemIndex } });
		}
	}
	return output;
}
