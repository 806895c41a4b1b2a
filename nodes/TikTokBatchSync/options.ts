import { NodeOperationError, type IExecuteFunctions, type INodeProperties } from 'n8n-workflow';
import { z } from 'zod';

import { nodeOf } from '../shared/fastParameters';
import { processWide } from '../shared/processWide';
import { TIKTOK_MAX_REQUESTS_PER_SECOND } from '../shared/transport/rateLimit';
import { MAX_USERS_PER_REQUEST } from '../shared/transport/types';
import {
	DEFAULT_MAX_PENDING_USERS,
	DEFAULT_RETRY_HORIZON_MS,
	DEFAULT_WINDOW_MS,
	type SyncSettings,
} from './engine';

interface NumberOption {
	displayName: string;
	default: number;
	min: number;
	max: number;
	integer?: boolean;
	/** Decimal places the editor offers (none for integers). */
	precision?: number;
	description: string;
}

/**
 * The Sync Users options' bounds and defaults, in one table: the editor's fields and the validation of what they
 * hold (often an expression's result) both come from it, so they cannot disagree.
 */
const NUMBER_OPTIONS = {
	maxPendingUsers: {
		displayName: 'Max Pending Users',
		default: DEFAULT_MAX_PENDING_USERS,
		min: 1,
		max: 10_000_000,
		integer: true,
		description:
			'Most users this node keeps waiting for TikTok (they are journaled in the workflow). Past it, new users are refused with an error instead of growing the journal without limit.',
	},
	requestsPerSecond: {
		displayName: 'Requests per Second',
		default: TIKTOK_MAX_REQUESTS_PER_SECOND,
		min: 1,
		max: TIKTOK_MAX_REQUESTS_PER_SECOND,
		description:
			'Ceiling for this node. Every node and workflow using the same TikTok app in this n8n shares TikTok’s 50 requests/s.',
	},
	retryHorizonHours: {
		displayName: 'Retry For (Hours)',
		default: DEFAULT_RETRY_HORIZON_MS / 3_600_000,
		min: 0.001,
		max: 24 * 30,
		precision: 3,
		description: 'How long failed users are retried before they count as errored',
	},
	usersPerRequest: {
		displayName: 'Users per Request',
		default: MAX_USERS_PER_REQUEST,
		min: 1,
		max: MAX_USERS_PER_REQUEST,
		integer: true,
		description: 'At most 10,000, TikTok’s limit',
	},
	windowSeconds: {
		displayName: 'Window (Seconds)',
		default: DEFAULT_WINDOW_MS / 1000,
		min: 0,
		max: 300,
		precision: 1,
		description:
			'Users arriving within this window, from any execution, are gathered into shared requests. A full request of 10,000 goes at once.',
	},
} satisfies Record<string, NumberOption>;

type NumberOptionName = keyof typeof NUMBER_OPTIONS;

/** Wait for Delivery: 'auto' waits in regular n8n and returns at once in queue mode (a waiting run holds a worker slot). */
export type WaitChoice = 'auto' | 'wait' | 'return';

const WAIT_FOR_DELIVERY = {
	displayName: 'Wait for Delivery',
	default: 'auto' as WaitChoice,
	description:
		'Whether the execution waits until its users are sent (or scheduled for retry). Auto waits in regular n8n; in queue mode it returns at once with the users pending, so executions do not hold worker slots.',
	options: [
		{ name: 'Auto', value: 'auto', description: 'Wait in regular n8n; return at once in queue mode' },
		{ name: 'Wait', value: 'wait', description: 'Wait until the users are sent or scheduled for retry' },
		{ name: 'Return at Once', value: 'return', description: 'Return at once; the users are reported pending' },
	],
};

/** The Sync Users options as editor fields. */
export function syncOptionProperties(): INodeProperties[] {
	const numbers = (Object.entries(NUMBER_OPTIONS) as Array<[NumberOptionName, NumberOption]>).map(
		([name, option]): INodeProperties => ({
			displayName: option.displayName,
			name,
			type: 'number',
			typeOptions: {
				minValue: option.min,
				maxValue: option.max,
				...(option.precision !== undefined ? { numberPrecision: option.precision } : {}),
			},
			default: option.default,
			description: option.description,
		}),
	);
	const wait: INodeProperties = { name: 'waitForDelivery', type: 'options', ...WAIT_FOR_DELIVERY };
	return [...numbers, wait];
}

function numberSchema(option: NumberOption) {
	const base = option.integer ? z.number().int() : z.number();
	return base.min(option.min).max(option.max).default(option.default);
}

const optionsSchema = z
	.object({
		maxPendingUsers: numberSchema(NUMBER_OPTIONS.maxPendingUsers),
		requestsPerSecond: numberSchema(NUMBER_OPTIONS.requestsPerSecond),
		retryHorizonHours: numberSchema(NUMBER_OPTIONS.retryHorizonHours),
		usersPerRequest: numberSchema(NUMBER_OPTIONS.usersPerRequest),
		windowSeconds: numberSchema(NUMBER_OPTIONS.windowSeconds),
		// Workflows saved before Auto hold a boolean: on = wait, off = return.
		waitForDelivery: z
			.union([z.boolean(), z.enum(['auto', 'wait', 'return'])])
			.default(WAIT_FOR_DELIVERY.default)
			.transform((value): WaitChoice => (value === true ? 'wait' : value === false ? 'return' : value)),
	})
	.passthrough();

export interface SyncOptions {
	settings: SyncSettings;
	requestsPerSecond: number;
	waitForDelivery: WaitChoice;
}

function hasExpression(value: unknown): boolean {
	if (typeof value === 'string') return value.startsWith('=');
	if (value && typeof value === 'object') return Object.values(value).some(hasExpression);
	return false;
}

/** Options without expressions, checked once per node version (their text) instead of once per execution. */
function checkedOptions(): Map<string, SyncOptions> {
	return processWide('batch-sync-options', () => new Map<string, SyncOptions>());
}

/** The node's options, checked: a value out of range (often from an expression) is an error, not a silent clamp. */
export function readSyncOptions(context: IExecuteFunctions): SyncOptions {
	const raw = nodeOf(context).parameters.options;
	if (raw !== undefined && hasExpression(raw)) return checkSyncOptions(context);
	const key = JSON.stringify(raw ?? {});
	const cache = checkedOptions();
	let options = cache.get(key);
	if (!options) {
		options = checkSyncOptions(context);
		Object.freeze(options.settings);
		Object.freeze(options);
		if (cache.size > 1_000) cache.clear();
		cache.set(key, options);
	}
	return options;
}

function checkSyncOptions(context: IExecuteFunctions): SyncOptions {
	const parsed = optionsSchema.safeParse(context.getNodeParameter('options', 0, {}));
	if (!parsed.success) {
		const label = (name: string) => (name === 'waitForDelivery' ? WAIT_FOR_DELIVERY.displayName : NUMBER_OPTIONS[name as NumberOptionName]?.displayName ?? name);
		const problems = parsed.error.issues.map((issue) => `${label(String(issue.path[0]))}: ${issue.message}`);
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
