import type { IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';

import { getConnection } from '../../shared/connection';
import { appKeyFor, type TikTokConnection } from '../../shared/transport/client';
import { engineContextFor, sharedStateFailure } from '../coordinator';
import type { Counters } from '../engine';
import { bookFor } from '../journalStore';
import { flushMetrics, metricsItem } from '../metrics';
import { senderFor } from '../sender';

/**
 * Flush & Report: restore every Batch Sync journal of this workflow (after a restart, even when no user arrives),
 * send what is buffered, retry what is due, save the journal and report the totals. In queue mode the workflow's
 * nodes, their users and their counters are read from Redis: this worker flushes what any process took in.
 */
export async function flushAndReport(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const engineContext = await engineContextFor(this);
	const coordinator = engineContext.engine;
	const journal = bookFor(this, coordinator);
	const restoreProblems: string[] = [];
	// Read once, and only when some node has users to restore or flush.
	let connection: TikTokConnection | undefined;

	const perNode: Record<string, Counters> = {};
	try {
		for (const nodeName of await journal.nodeNames()) {
			const scope = journal.scopeOf(nodeName);
			// A Sync Users node that ran in this process keeps its own settings and, unless this node's credential is
			// of the same TikTok app (e.g. reconnected), its own credential; a restart's first flush uses what was saved.
			const { live, saved } = await journal.profileOf(nodeName);
			connection ??= await getConnection(this);
			const sender = senderFor(connection, scope, live?.requestsPerSecond ?? saved?.requestsPerSecond);
			const problem = await journal.restore(nodeName, sender, live?.settings ?? saved?.settings);
			if (problem) restoreProblems.push(`${nodeName}: ${problem}`);
			const sameApp = !live || live.appKey === appKeyFor(sender.connection);
			const settings = live?.settings ?? saved?.settings;
			await coordinator.flush(scope, sameApp ? { send: sender.send, pacer: sender.pacer, settings } : { settings });
			perNode[nodeName] = await coordinator.report(scope);
		}
	} catch (error) {
		throw sharedStateFailure(this, engineContext, error);
	}
	journal.save();
	if (restoreProblems.length) {
		this.addExecutionHints({ message: restoreProblems.join(' '), location: 'outputPane' });
	}
	let activeWorkflow: Record<string, Counters> | undefined;
	if (journal.manual) {
		try {
			activeWorkflow = await journal.activeWorkflowCounters();
		} catch (error) {
			throw sharedStateFailure(this, engineContext, error);
		}
		this.addExecutionHints({
			message:
				'Manual runs count their users apart from the active (published) workflow: the totals above are this manual session’s; activeWorkflow holds the active workflow’s, read-only.',
			location: 'outputPane',
		});
	}
	const metrics = flushMetrics(perNode, activeWorkflow, engineContext.state.noPersistence);
	return [[metricsItem(metrics, this.getInputData().length)], []];
}
