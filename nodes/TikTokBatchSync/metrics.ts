import type { IDataObject, INodeExecutionData } from 'n8n-workflow';

import { mergeCounters, type Counters, type RunTallies } from './engine';

/**
 * The Metrics output item, built only here. Downstream nodes read these fields (an IF on `errored > 0`, a
 * dashboard of `synced`): their names are part of the node's interface.
 */

/** Cumulative counters of one Batch Sync node (Braze's Entered, Synced, Not Synced, Pending, Errored), with reasons. */
export type CounterFields = Counters;

/** What one Sync Users run did with its users, and the node's totals so far. */
export interface SyncRunMetrics extends CounterFields {
	operation: 'sync';
	action: 'add' | 'remove' | 'perItem';
	advertiserId: string;
	audienceId: string;
	/** Input items of this run (entered + rejected). */
	proceeded: number;
	rejected: number;
	totals: CounterFields;
	/** Where the engine keeps its state: this n8n process, or Redis (queue mode: shared by every process). */
	engine: 'in-process' | 'redis';
	/** Whether this run waited for its users to be sent; when not, `pending` holds them and `note` says why. */
	waitedForDelivery: boolean;
	note?: string;
}

/** Flush & Report: the totals of every Batch Sync node of the workflow, and each node's own. */
export interface FlushMetrics extends CounterFields {
	operation: 'flush';
	nodes: Record<string, CounterFields>;
	/** Manual runs only: the active workflow's totals (read-only; manual-run users are counted apart). */
	activeWorkflow?: CounterFields & { nodes: Record<string, CounterFields> };
	/** Set while users are pending in a Redis that keeps nothing on disk. */
	note?: string;
}

/** A run that failed as a whole with Continue On Fail on: its users proceed as rejected. */
export interface FailedRunMetrics {
	operation: 'sync' | 'flush';
	error: string;
	entered: 0;
	proceeded: number;
	synced: 0;
	notSynced: 0;
	pending: 0;
	errored: 0;
	rejected: number;
}

/** A copy the item can own (downstream nodes may change it). */
export function counterFields(counters: Counters): CounterFields {
	return { ...counters, notSyncedReasons: { ...counters.notSyncedReasons }, erroredReasons: { ...counters.erroredReasons } };
}

export function syncRunMetrics(args: {
	action: 'add' | 'remove' | 'perItem';
	advertiserId: string;
	audienceId: string;
	proceeded: number;
	tallies: RunTallies;
	notSyncedReasons: Record<string, number>;
	erroredReasons: Record<string, number>;
	totals: Counters;
	engine: 'in-process' | 'redis';
	waitedForDelivery: boolean;
	/** Set when Redis keeps nothing on disk: repeated in `note` while users are pending. */
	noPersistence?: string;
}): SyncRunMetrics {
	const { tallies } = args;
	const notes: string[] = [];
	if (!args.waitedForDelivery && args.engine === 'redis' && tallies.pending > 0) {
		notes.push(
			'Queue mode: this run returned at once (Wait for Delivery: Auto) so it holds no worker slot; its users are pending and are sent within the window. Flush & Report (or the totals of a later run) shows their outcome.',
		);
	}
	if (args.noPersistence && (tallies.pending > 0 || args.totals.pending > 0)) notes.push(args.noPersistence);
	const note = notes.length > 0 ? notes.join(' ') : undefined;
	return {
		operation: 'sync',
		action: args.action,
		advertiserId: args.advertiserId,
		audienceId: args.audienceId,
		entered: tallies.entered,
		proceeded: args.proceeded,
		synced: tallies.synced,
		notSynced: tallies.notSynced,
		notSyncedReasons: args.notSyncedReasons,
		pending: tallies.pending,
		errored: tallies.errored,
		erroredReasons: args.erroredReasons,
		rejected: tallies.rejected,
		added: tallies.added,
		removed: tallies.removed,
		totals: counterFields(args.totals),
		engine: args.engine,
		waitedForDelivery: args.waitedForDelivery,
		...(note ? { note } : {}),
	};
}

export function flushMetrics(perNode: Record<string, Counters>, activeWorkflow?: Record<string, Counters>, noPersistence?: string): FlushMetrics {
	const totals = totalsOf(perNode);
	return {
		operation: 'flush',
		...totals,
		...(activeWorkflow ? { activeWorkflow: totalsOf(activeWorkflow) } : {}),
		...(noPersistence && totals.pending > 0 ? { note: noPersistence } : {}),
	};
}

function totalsOf(perNode: Record<string, Counters>): CounterFields & { nodes: Record<string, CounterFields> } {
	const nodes: Record<string, CounterFields> = {};
	for (const [name, counters] of Object.entries(perNode)) nodes[name] = counterFields(counters);
	return { ...counterFields(mergeCounters(Object.values(perNode))), nodes };
}

export function failedRunMetrics(operation: 'sync' | 'flush', error: string, inputItems: number): FailedRunMetrics {
	const users = operation === 'sync' ? inputItems : 0;
	return { operation, error, entered: 0, proceeded: users, synced: 0, notSynced: 0, pending: 0, errored: 0, rejected: users };
}

/** The Metrics item, paired with every input item of the run. */
export function metricsItem(metrics: SyncRunMetrics | FlushMetrics | FailedRunMetrics, inputItems: number): INodeExecutionData {
	return {
		json: metrics as unknown as IDataObject,
		pairedItem: Array.from({ length: inputItems }, (_, item) => ({ item })),
	};
}
