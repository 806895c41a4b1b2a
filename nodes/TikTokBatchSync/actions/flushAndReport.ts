import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { getCoordinator, type Counters } from '../engine';
import { liveNodeNames, readJournals, scopeName, writeJournals } from '../journalStore';
import { buildSender, countersJson } from './shared';

/**
 * Flush & Report: restore every Batch Sync journal of this workflow (after a restart, even when no user arrives),
 * send what is buffered, retry what is due, save the journal and report the totals.
 */
export async function flushAndReport(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const workflowId = this.getWorkflow().id;
	const coordinator = getCoordinator();
	const staticData = this.getWorkflowStaticData('global');
	const journals = readJournals(staticData);
	const live = liveNodeNames(workflowId);
	const nodeNames = new Set([...Object.keys(journals), ...live]);
	const restoreProblems: string[] = [];

	const perNode: IDataObject = {};
	const totals: Counters = { entered: 0, synced: 0, notSynced: 0, pending: 0, errored: 0, notSyncedReasons: {}, erroredReasons: {} };
	for (const nodeName of nodeNames) {
		const scope = scopeName(workflowId, nodeName);
		const sender = await buildSender(this, scope);
		try {
			coordinator.restore(scope, journals[nodeName], sender.send, sender.pacer);
		} catch (error) {
			restoreProblems.push(`${nodeName}: ${(error as Error).message}`);
		}
		live.add(nodeName);
		await coordinator.flush(scope, { send: sender.send, pacer: sender.pacer });
		const counters = coordinator.report(scope);
		perNode[nodeName] = countersJson(counters);
		for (const key of ['entered', 'synced', 'notSynced', 'pending', 'errored'] as const) totals[key] += counters[key];
		for (const [reason, count] of Object.entries(counters.notSyncedReasons)) {
			totals.notSyncedReasons[reason] = (totals.notSyncedReasons[reason] ?? 0) + count;
		}
		for (const [reason, count] of Object.entries(counters.erroredReasons)) {
			totals.erroredReasons[reason] = (totals.erroredReasons[reason] ?? 0) + count;
		}
	}
	writeJournals(staticData, workflowId, coordinator);
	if (restoreProblems.length) {
		this.addExecutionHints({ message: restoreProblems.join(' '), location: 'outputPane' });
	}
	const items = this.getInputData();
	const metrics: IDataObject = { operation: 'flush', ...countersJson(totals), nodes: perNode };
	return [[{ json: metrics, pairedItem: items.map((_, item) => ({ item })) }], []];
}
