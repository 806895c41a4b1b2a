import type { IDataObject } from 'n8n-workflow';

import type { SyncCoordinator } from './engine';

/**
 * Where the Batch Sync journal lives in workflow static data: one entry per Batch Sync node of the workflow,
 * under a single key of the global static data (so a Flush & Report node can see every node's journal).
 *
 * Static data is saved whole at the end of each execution, last writer wins. So every execution writes the
 * coordinator's current view of every scope of this workflow that is live in this process, and carries the others
 * over untouched: whatever execution writes last, the journal is a complete, current picture.
 */
export const STATIC_DATA_KEY = 'tiktokBatchSync';

interface StoredJournals {
	version: 1;
	nodes: Record<string, unknown>;
}

export function scopeName(workflowId: string | undefined, nodeName: string): string {
	return `${workflowId ?? 'unsaved'}:${nodeName}`;
}

export function readJournals(staticData: IDataObject): Record<string, unknown> {
	const stored = staticData[STATIC_DATA_KEY] as StoredJournals | undefined;
	return stored && typeof stored === 'object' && stored.nodes && typeof stored.nodes === 'object' ? { ...stored.nodes } : {};
}

// Scopes that had users in this process, per workflow: the ones whose journal this process owns.
const LIVE_SCOPES_KEY = Symbol.for('n8n-nodes-tiktok-audience-sync.live-scopes');

export function liveNodeNames(workflowId: string | undefined): Set<string> {
	const holder = globalThis as unknown as Record<symbol, Map<string, Set<string>> | undefined>;
	let byWorkflow = holder[LIVE_SCOPES_KEY];
	if (!byWorkflow) {
		byWorkflow = new Map();
		holder[LIVE_SCOPES_KEY] = byWorkflow;
	}
	const key = workflowId ?? 'unsaved';
	let names = byWorkflow.get(key);
	if (!names) {
		names = new Set();
		byWorkflow.set(key, names);
	}
	return names;
}

export function writeJournals(staticData: IDataObject, workflowId: string | undefined, coordinator: SyncCoordinator): void {
	const nodes = readJournals(staticData);
	for (const nodeName of liveNodeNames(workflowId)) {
		nodes[nodeName] = coordinator.exportJournal(scopeName(workflowId, nodeName));
	}
	const stored: StoredJournals = { version: 1, nodes };
	staticData[STATIC_DATA_KEY] = stored as unknown as IDataObject;
}
