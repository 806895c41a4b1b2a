import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { getCoordinator, type Counters } from '../engine';
import { getConnection } from '../../shared/connection';
import { appKeyFor, type TikTokConnection } from '../../shared/transport/client';
import {
	liveNodeNames,
	readJournals,
	readSavedProfiles,
	scopeName,
	scopeProfiles,
	workflowKey,
	writeJournals,
} from '../journalStore';
import { countersJson, senderFor } from './shared';

/**
 * Flush & Report: restore every Batch Sync journal of this workflow (after a restart, even when no user arrives),
 * send what is buffered, retry what is due, save the journal and report the totals.
 */
export async function flushAndReport(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const workflow = workflowKey(this.getWorkflow().id, this.getMode());
	const coordinator = getCoordinator();
	const staticData = this.getWorkflowStaticData('global');
	const journals = this.getMode() === 'manual' ? {} : readJournals(staticData);
	const savedProfiles = readSavedProfiles(staticData);
	const live = liveNodeNames(workflow);
	const nodeNames = new Set([...Object.keys(journals), ...live]);
	const restoreProblems: string[] = [];
	// Read once, and only when some node has users to restore or flush.
	let connection: TikTokConnection | undefined;

	const perNode: IDataObject = {};
	const totals: Counters = { entered: 0, synced: 0, notSynced: 0, pending: 0, errored: 0, notSyncedReasons: {}, erroredReasons: {} };
	for (const nodeName of nodeNames) {
		const scope = scopeName(workflow, nodeName);
		// A Sync Users node that ran in this process keeps its own settings and, unless this node's credential is
		// of the same TikTok app (e.g. reconnected), its own credential; a restart's first flush uses what was saved.
		const profile = scopeProfiles().get(scope);
		const saved = savedProfiles[nodeName];
		connection ??= await getConnection(this);
		const sender = senderFor(connection, scope, profile?.requestsPerSecond ?? saved?.requestsPerSecond);
		try {
			coordinator.restore(scope, journals[nodeName], sender.send, sender.pacer, profile?.settings ?? saved?.settings);
		} catch (error) {
			restoreProblems.push(`${nodeName}: ${(error as Error).message}`);
		}
		live.add(nodeName);
		const sameApp = !profile || profile.appKey === appKeyFor(sender.connection);
		await coordinator.flush(scope, sameApp ? { send: sender.send, pacer: sender.pacer } : {});
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
	// n8n never saves a manual run's static data; writing it would only hide the production journal in this run.
	if (this.getMode() !== 'manual') writeJournals(staticData, workflow, coordinator);
	if (restoreProblems.length) {
		this.addExecutionHints({ message: restoreProblems.join(' '), location: 'outputPane' });
	}
	const items = this.getInputData();
	const metrics: IDataObject = { operation: 'flush', ...countersJson(totals), nodes: perNode };
	return [[{ json: metrics, pairedItem: items.map((_, item) => ({ item })) }], []];
}
