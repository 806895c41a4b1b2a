import type { IDataObject } from 'n8n-workflow';

import { processWide } from '../shared/processWide';
import type { SyncCoordinator, SyncSettings } from './engine';

/**
 * Where the Batch Sync journal lives in workflow static data: one entry per Batch Sync node of the workflow,
 * under a single key of the global static data (so a Flush & Report node can see every node's journal).
 *
 * Static data is saved whole at the end of each execution, last writer wins. So every execution writes the
 * coordinator's current view of every scope of this workflow that is live in this process, and carries the others
 * over untouched: whatever execution writes last, the journal is a complete, current picture.
 */
export const STATIC_DATA_KEY = 'tiktokBatchSync';

/** What a Sync Users node last ran with: restoring and flushing its users must use the same. */
export interface ScopeProfile {
	/** The TikTok app (or token digest) whose credential the node uses. */
	appKey: string;
	requestsPerSecond: number;
	settings: SyncSettings;
}

interface StoredJournals {
	version: 1;
	nodes: Record<string, unknown>;
	/** Per node: the settings its journaled users are retried with (a restart must not shorten "Retry For"). */
	profiles?: Record<string, Omit<ScopeProfile, 'appKey'>>;
}

/**
 * Manual runs get their own key: n8n never saves their static data, so they must neither restore nor overwrite
 * the production journal of the same node.
 */
export function workflowKey(workflowId: string | undefined, mode: string): string {
	const id = workflowId ?? 'unsaved';
	return mode === 'manual' ? `${id}#manual` : id;
}

export function scopeName(workflowKeyValue: string, nodeName: string): string {
	return `${workflowKeyValue}:${nodeName}`;
}

function stored(staticData: IDataObject): StoredJournals | undefined {
	const value = staticData[STATIC_DATA_KEY] as StoredJournals | undefined;
	return value && typeof value === 'object' && value.nodes && typeof value.nodes === 'object' ? value : undefined;
}

export function readJournals(staticData: IDataObject): Record<string, unknown> {
	return { ...(stored(staticData)?.nodes ?? {}) };
}

export function readSavedProfiles(staticData: IDataObject): Record<string, Omit<ScopeProfile, 'appKey'>> {
	return { ...(stored(staticData)?.profiles ?? {}) };
}

/** Profiles of the Sync Users nodes that ran in this process, by scope. */
export function scopeProfiles(): Map<string, ScopeProfile> {
	return processWide('scope-profiles', () => new Map<string, ScopeProfile>());
}

/** Scopes that had users in this process, per workflow: the ones whose journal this process owns. */
function liveScopes(): Map<string, Set<string>> {
	return processWide('live-scopes', () => new Map<string, Set<string>>());
}

export function liveNodeNames(workflowKeyValue: string): Set<string> {
	const byWorkflow = liveScopes();
	let names = byWorkflow.get(workflowKeyValue);
	if (!names) {
		names = new Set();
		byWorkflow.set(workflowKeyValue, names);
	}
	return names;
}

export function writeJournals(staticData: IDataObject, workflowKeyValue: string, coordinator: SyncCoordinator): void {
	const nodes = readJournals(staticData);
	const profiles = readSavedProfiles(staticData);
	for (const nodeName of liveNodeNames(workflowKeyValue)) {
		const scope = scopeName(workflowKeyValue, nodeName);
		nodes[nodeName] = coordinator.exportJournal(scope);
		const profile = scopeProfiles().get(scope);
		if (profile) profiles[nodeName] = { requestsPerSecond: profile.requestsPerSecond, settings: profile.settings };
	}
	const stored: StoredJournals = { version: 1, nodes, profiles };
	staticData[STATIC_DATA_KEY] = stored as unknown as IDataObject;
}

/** Forget which scopes and profiles this process has seen (tests: a fresh process between tests). */
export function resetJournalMemory(): void {
	scopeProfiles().clear();
	liveScopes().clear();
}
