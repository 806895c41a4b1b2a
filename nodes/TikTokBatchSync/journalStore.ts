import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { processWide } from '../shared/processWide';
import { JournalFormatError, parseJournal, type Counters, type RedisSyncCoordinator, type SyncCoordinator, type SyncSettings } from './engine';
import type { Sender } from './sender';

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

function readJournals(staticData: IDataObject): Record<string, unknown> {
	return { ...(stored(staticData)?.nodes ?? {}) };
}

function readSavedProfiles(staticData: IDataObject): Record<string, Omit<ScopeProfile, 'appKey'>> {
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

/**
 * What both books read at the start of an execution: the workflow's key (manual runs apart), its static data and
 * the journals it holds (none for manual runs: n8n does not save their static data).
 */
abstract class WorkflowBook {
	readonly workflow: string;
	readonly manual: boolean;
	protected readonly workflowId: string | undefined;
	protected readonly staticData: IDataObject;
	protected readonly journals: Record<string, unknown>;

	constructor(context: IExecuteFunctions) {
		this.manual = context.getMode() === 'manual';
		this.workflowId = context.getWorkflow().id;
		this.workflow = workflowKey(this.workflowId, context.getMode());
		this.staticData = context.getWorkflowStaticData('global');
		this.journals = this.manual ? {} : readJournals(this.staticData);
	}

	scopeOf(nodeName: string): string {
		return scopeName(this.workflow, nodeName);
	}
}

/**
 * The journal routine of one execution, for both operations: read what static data holds (manual runs have their
 * own scope and never read or write it: n8n does not save their static data), restore each node's scope once per
 * process, remember which nodes are live here, and write every live node's journal back at the end.
 */
export class JournalSession extends WorkflowBook implements ScopeBook {
	private readonly savedProfiles: Record<string, Omit<ScopeProfile, 'appKey'>>;

	constructor(
		context: IExecuteFunctions,
		private readonly coordinator: SyncCoordinator,
	) {
		super(context);
		this.savedProfiles = readSavedProfiles(this.staticData);
	}

	/** Every Batch Sync node of the workflow with users journaled or live in this process. */
	nodeNames(): Set<string> {
		return new Set([...Object.keys(this.journals), ...liveNodeNames(this.workflow)]);
	}

	/** What the node last ran with in this process, or (after a restart) what was saved with its journal. */
	profileOf(nodeName: string): { live?: ScopeProfile; saved?: Omit<ScopeProfile, 'appKey'> } {
		return { live: scopeProfiles().get(this.scopeOf(nodeName)), saved: this.savedProfiles[nodeName] };
	}

	/** Records what a Sync Users node runs with (its restart and its flushes use the same). */
	setProfile(nodeName: string, profile: ScopeProfile): void {
		scopeProfiles().set(this.scopeOf(nodeName), profile);
	}

	/**
	 * Restores the node's journaled users (once per process; nothing in manual runs) and marks the node live here.
	 * Returns why its journal could not be read, if it could not: its new users still sync.
	 */
	restore(nodeName: string, sender: Pick<Sender, 'send' | 'pacer'>, settings?: SyncSettings): string | undefined {
		let problem: string | undefined;
		try {
			this.coordinator.restore(this.scopeOf(nodeName), this.journals[nodeName], sender.send, sender.pacer, settings);
		} catch (error) {
			problem = (error as Error).message;
		}
		liveNodeNames(this.workflow).add(nodeName);
		return problem;
	}

	/**
	 * Manual runs count their users apart; this is what the active workflow's Batch Sync nodes report, read-only:
	 * live in this process, or as last journaled.
	 */
	activeWorkflowCounters(): Record<string, Counters> {
		const production = workflowKey(this.workflowId, 'production');
		const journals = readJournals(this.staticData);
		const counters: Record<string, Counters> = {};
		for (const nodeName of new Set([...Object.keys(journals), ...liveNodeNames(production)])) {
			const scope = scopeName(production, nodeName);
			if (this.coordinator.knows(scope)) {
				counters[nodeName] = this.coordinator.report(scope);
				continue;
			}
			try {
				counters[nodeName] = parseJournal(journals[nodeName]).counters;
			} catch {
				// An unreadable journal has nothing to report; the active workflow's own Flush & Report says why.
			}
		}
		return counters;
	}

	/** Writes the journal of every node live in this process (not for manual runs). */
	save(): void {
		if (!this.manual) writeJournals(this.staticData, this.workflow, this.coordinator);
	}
}

/**
 * What both operations ask of the place that keeps a workflow's Batch Sync nodes between executions: the static-data
 * journal (JournalSession, regular mode) or Redis (SharedScopeBook, queue mode).
 */
export interface ScopeBook {
	readonly workflow: string;
	readonly manual: boolean;
	scopeOf(nodeName: string): string;
	nodeNames(): Set<string> | Promise<Set<string>>;
	profileOf(nodeName: string): ProfileView | Promise<ProfileView>;
	setProfile(nodeName: string, profile: ScopeProfile): void | Promise<void>;
	restore(nodeName: string, sender: Pick<Sender, 'send' | 'pacer'>, settings?: SyncSettings): (string | undefined) | Promise<string | undefined>;
	activeWorkflowCounters(): Record<string, Counters> | Promise<Record<string, Counters>>;
	save(): void;
}

export interface ProfileView {
	live?: ScopeProfile;
	saved?: Omit<ScopeProfile, 'appKey'>;
}

/**
 * Queue mode: the engine's state is in Redis, so is the list of the workflow's Batch Sync nodes and what each last
 * ran with; any process finds them. A static-data journal still there (written in regular mode, or by n8n 1.x, which
 * still loads static data on workers) is moved into Redis once and removed from static data.
 */
export class SharedScopeBook extends WorkflowBook implements ScopeBook {
	private staticDataChanged = false;
	/** The workflow's node directory, read from Redis once per execution (Flush & Report asks per node). */
	private members?: Promise<Record<string, string>>;

	constructor(
		context: IExecuteFunctions,
		private readonly engine: RedisSyncCoordinator,
	) {
		super(context);
	}

	private knownNodes(): Promise<Record<string, string>> {
		this.members ??= this.engine.members(this.workflow);
		return this.members;
	}

	async nodeNames(): Promise<Set<string>> {
		const known = await this.knownNodes();
		return new Set([...Object.keys(known), ...Object.keys(this.journals), ...liveNodeNames(this.workflow)]);
	}

	async profileOf(nodeName: string): Promise<ProfileView> {
		const known = await this.knownNodes();
		let saved: Omit<ScopeProfile, 'appKey'> | undefined;
		try {
			saved = known[nodeName] ? (JSON.parse(known[nodeName]) as Omit<ScopeProfile, 'appKey'>) : undefined;
		} catch {
			saved = undefined;
		}
		return { live: scopeProfiles().get(this.scopeOf(nodeName)), saved: saved ?? readSavedProfiles(this.staticData)[nodeName] };
	}

	async setProfile(nodeName: string, profile: ScopeProfile): Promise<void> {
		scopeProfiles().set(this.scopeOf(nodeName), profile);
		const { appKey: _appKey, ...saved } = profile;
		await this.engine.remember(this.workflow, nodeName, JSON.stringify(saved));
		this.members = undefined;
	}

	async restore(nodeName: string, sender: Pick<Sender, 'send' | 'pacer'>, settings?: SyncSettings): Promise<string | undefined> {
		liveNodeNames(this.workflow).add(nodeName);
		const journal = this.journals[nodeName];
		if (journal === undefined) return undefined;
		let problem: string | undefined;
		try {
			await this.engine.importJournal(this.scopeOf(nodeName), journal, sender.send, sender.pacer, settings);
		} catch (error) {
			if (!(error instanceof JournalFormatError)) throw error;
			problem = error.message;
		}
		// From now on any process finds the node in Redis, with what its users are retried with.
		const savedProfile = readSavedProfiles(this.staticData)[nodeName];
		if (savedProfile || settings) {
			await this.engine.remember(this.workflow, nodeName, JSON.stringify(savedProfile ?? { requestsPerSecond: undefined, settings }));
			this.members = undefined;
		}
		// Moved (or unreadable): it must not be imported again, nor outlive the move in static data.
		delete this.journals[nodeName];
		const stored = this.staticData[STATIC_DATA_KEY] as StoredJournals | undefined;
		if (stored?.nodes) {
			delete stored.nodes[nodeName];
			this.staticDataChanged = true;
		}
		return problem;
	}

	async activeWorkflowCounters(): Promise<Record<string, Counters>> {
		const production = workflowKey(this.workflowId, 'production');
		const counters: Record<string, Counters> = {};
		for (const nodeName of Object.keys(await this.engine.members(production))) {
			counters[nodeName] = await this.engine.report(scopeName(production, nodeName));
		}
		return counters;
	}

	/** Static data changes only when a journal was moved into Redis. */
	save(): void {
		if (this.staticDataChanged) this.staticData[STATIC_DATA_KEY] = { ...(this.staticData[STATIC_DATA_KEY] as object) } as IDataObject;
	}
}

/** The book of this execution's workflow, where the engine keeps it. */
export function bookFor(context: IExecuteFunctions, engine: SyncCoordinator | RedisSyncCoordinator): ScopeBook {
	return engine.kind === 'redis' ? new SharedScopeBook(context, engine) : new JournalSession(context, engine);
}
