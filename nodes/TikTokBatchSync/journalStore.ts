import { readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { digestHex } from '../shared/digest';
import { packageDataFolder } from '../shared/n8nFolder';
import { processWide } from '../shared/processWide';
import {
	JournalFormatError,
	JournalLog,
	parseJournal,
	readJournalFile,
	type Counters,
	type JournalFileContent,
	type RedisSyncCoordinator,
	type SyncCoordinator,
	type SyncSettings,
} from './engine';
import type { Sender } from './sender';

/**
 * Where a Batch Sync node's users wait between executions. Regular mode: a journal file per node (engine/journalLog.ts)
 * in the package's folder of n8n's data folder, `journals/<workflow>/<node>.jsonl`, appended at each execution end with
 * what changed. Queue mode: Redis (SharedScopeBook below).
 *
 * Earlier builds kept the journal in workflow static data, under this key of the global static data; a journal still
 * found there is taken over once (into the file, or into Redis in queue mode) and removed from static data.
 */
export const STATIC_DATA_KEY = 'tiktokBatchSync';

/** What a Sync Users node last ran with: restoring and flushing its users must use the same. */
export interface ScopeProfile {
	/** The TikTok app (or token digest) whose credential the node uses. */
	appKey: string;
	requestsPerSecond: number;
	settings: SyncSettings;
}

type SavedProfile = Omit<ScopeProfile, 'appKey'>;

interface StoredJournals {
	version: 1;
	nodes: Record<string, unknown>;
	/** Per node: the settings its journaled users are retried with (a restart must not shorten "Retry For"). */
	profiles?: Record<string, SavedProfile>;
}

/** The folder of the journal files: `journals` in the package's folder of n8n's data folder. */
export function journalFolder(env: NodeJS.ProcessEnv = process.env): string {
	return join(packageDataFolder(env), 'journals');
}

/** A workflow's folder of journal files: its id when that is a plain name, else a digest of it. */
export function workflowJournalFolder(workflowKeyValue: string, folder: string = journalFolder()): string {
	const name = /^[A-Za-z0-9_-]{1,64}$/.test(workflowKeyValue) ? workflowKeyValue : `wf-${digestHex('sha256', workflowKeyValue).slice(0, 24)}`;
	return join(folder, name);
}

/** A node's journal file (node names may hold any character: the file is named by a digest, the name is inside). */
export function journalFilePath(workflowKeyValue: string, nodeName: string, folder: string = journalFolder()): string {
	return join(workflowJournalFolder(workflowKeyValue, folder), `${digestHex('sha256', nodeName).slice(0, 24)}.jsonl`);
}

/** Every journal file of a workflow, read back, by node name. */
export function readWorkflowJournals(workflowKeyValue: string): Map<string, JournalFileContent> {
	const files = new Map<string, JournalFileContent>();
	let names: string[];
	try {
		names = readdirSync(workflowJournalFolder(workflowKeyValue));
	} catch {
		return files;
	}
	for (const name of names) {
		if (!name.endsWith('.jsonl')) continue;
		const content = readJournalFile(join(workflowJournalFolder(workflowKeyValue), name));
		if (content) files.set(content.node, content);
	}
	return files;
}

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

function readSavedProfiles(staticData: IDataObject): Record<string, SavedProfile> {
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

/** The journal file writer of each scope this process owns. */
function journalLogs(): Map<string, JournalLog> {
	return processWide('journal-logs', () => new Map<string, JournalLog>());
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

/** Forget which scopes and profiles this process has seen, and close its journal files (tests: a new process). */
export function resetJournalMemory(): void {
	scopeProfiles().clear();
	liveScopes().clear();
	for (const log of journalLogs().values()) log.close();
	journalLogs().clear();
	filesLookedFor().clear();
}

/** Workflows whose regular-mode journal files queue mode looked for already (once per process). */
function filesLookedFor(): Set<string> {
	return processWide('journal-files-looked-for', () => new Set<string>());
}

/**
 * What both books read at the start of an execution: the workflow's key (manual runs apart) and, only when a node's
 * journal is taken back, its static data (a journal an older version left there).
 */
abstract class WorkflowBook {
	readonly workflow: string;
	readonly manual: boolean;
	protected readonly workflowId: string | undefined;
	private globalStaticData?: IDataObject;
	private legacyJournals?: Record<string, unknown>;

	constructor(private readonly context: IExecuteFunctions) {
		this.manual = context.getMode() === 'manual';
		this.workflowId = context.getWorkflow().id;
		this.workflow = workflowKey(this.workflowId, context.getMode());
	}

	protected get staticData(): IDataObject {
		this.globalStaticData ??= this.context.getWorkflowStaticData('global');
		return this.globalStaticData;
	}

	/** Journals an older version wrote into static data, by node (none for manual runs: n8n does not save theirs). */
	protected get journals(): Record<string, unknown> {
		this.legacyJournals ??= this.manual ? {} : readJournals(this.staticData);
		return this.legacyJournals;
	}

	/** Removes a node's journal (and profile) from static data once it lives elsewhere; n8n saves the change. */
	protected forgetStaticJournal(nodeName: string): void {
		delete this.journals[nodeName];
		const saved = stored(this.staticData);
		if (!saved || !(nodeName in saved.nodes)) return;
		const nodes = { ...saved.nodes };
		const profiles = { ...(saved.profiles ?? {}) };
		delete nodes[nodeName];
		delete profiles[nodeName];
		if (Object.keys(nodes).length === 0) delete this.staticData[STATIC_DATA_KEY];
		else this.staticData[STATIC_DATA_KEY] = { version: 1, nodes, profiles } as unknown as IDataObject;
	}

	scopeOf(nodeName: string): string {
		return scopeName(this.workflow, nodeName);
	}
}

/**
 * The journal routine of one execution in regular mode, for both operations. Each node's users are taken back once
 * per process (from its journal file, or from static data written by an older version), and from then on the process
 * appends what changed to the file at every execution end. Manual runs have their own scope and no journal: n8n does
 * not save their static data either, and a manual session is not meant to outlive the process.
 */
export class JournalSession extends WorkflowBook implements ScopeBook {
	/** Journal files read in this execution (Flush & Report after a restart), by node. */
	private files?: Map<string, JournalFileContent>;

	constructor(
		context: IExecuteFunctions,
		private readonly coordinator: SyncCoordinator,
	) {
		super(context);
	}

	private journalFiles(): Map<string, JournalFileContent> {
		this.files ??= this.manual ? new Map() : readWorkflowJournals(this.workflow);
		return this.files;
	}

	private fileOf(nodeName: string): JournalFileContent | undefined {
		if (this.files) return this.files.get(nodeName);
		return this.manual ? undefined : readJournalFile(journalFilePath(this.workflow, nodeName));
	}

	/** Every Batch Sync node of the workflow with users journaled or live in this process. */
	nodeNames(): Set<string> {
		return new Set([...this.journalFiles().keys(), ...Object.keys(this.journals), ...liveNodeNames(this.workflow)]);
	}

	/** What the node last ran with in this process, or (after a restart) what was saved with its journal. */
	profileOf(nodeName: string): ProfileView {
		const live = scopeProfiles().get(this.scopeOf(nodeName));
		if (live) return { live };
		const saved = (this.fileOf(nodeName)?.profile as SavedProfile | undefined) ?? (this.manual ? undefined : readSavedProfiles(this.staticData)[nodeName]);
		return { saved };
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
		const scope = this.scopeOf(nodeName);
		liveNodeNames(this.workflow).add(nodeName);
		// The common case: this process took the node back already, nothing to read.
		if (this.coordinator.hasRestored(scope)) {
			if (!this.manual && !journalLogs().has(scope)) this.startLog(scope, nodeName, undefined);
			return undefined;
		}
		if (this.manual) {
			this.coordinator.restore(scope, undefined, sender.send, sender.pacer, settings);
			return undefined;
		}
		const path = journalFilePath(this.workflow, nodeName);
		const file = this.fileOf(nodeName);
		const legacy = this.journals[nodeName];
		let problem: string | undefined;
		try {
			this.coordinator.restore(scope, file ? file.journal : legacy, sender.send, sender.pacer, settings);
		} catch (error) {
			problem = (error as Error).message;
			// Kept aside for a look, not overwritten by the fresh journal below.
			if (file) renameSync(path, `${path}.unreadable-${Date.now()}`);
		}
		this.startLog(scope, nodeName, file?.profile);
		if (legacy !== undefined) this.forgetStaticJournal(nodeName);
		return problem;
	}

	/** From now on this process owns the node's journal: a fresh file with everything the engine holds of it. */
	private startLog(scope: string, nodeName: string, savedProfile: JournalFileContent['profile']): void {
		const log = new JournalLog(journalFilePath(this.workflow, nodeName), nodeName);
		journalLogs().get(scope)?.close();
		journalLogs().set(scope, log);
		log.snapshot(this.coordinator.unsettledChunks(scope), this.coordinator.report(scope), this.savedProfile(scope) ?? savedProfile);
	}

	private savedProfile(scope: string): SavedProfile | undefined {
		const profile = scopeProfiles().get(scope);
		return profile ? { requestsPerSecond: profile.requestsPerSecond, settings: profile.settings } : undefined;
	}

	/**
	 * Manual runs count their users apart; this is what the active workflow's Batch Sync nodes report, read-only:
	 * live in this process, or as last journaled.
	 */
	activeWorkflowCounters(): Record<string, Counters> {
		const production = workflowKey(this.workflowId, 'production');
		const files = readWorkflowJournals(production);
		const legacy = readJournals(this.staticData);
		const counters: Record<string, Counters> = {};
		for (const nodeName of new Set([...files.keys(), ...Object.keys(legacy), ...liveNodeNames(production)])) {
			const scope = scopeName(production, nodeName);
			if (this.coordinator.knows(scope)) {
				counters[nodeName] = this.coordinator.report(scope);
				continue;
			}
			try {
				counters[nodeName] = parseJournal(files.get(nodeName)?.journal ?? legacy[nodeName]).counters;
			} catch {
				// An unreadable journal has nothing to report; the active workflow's own Flush & Report says why.
			}
		}
		return counters;
	}

	/** Appends to the journal of every node live in this process what changed since its last write (not for manual runs). */
	save(): void {
		if (this.manual) return;
		for (const nodeName of liveNodeNames(this.workflow)) {
			const scope = this.scopeOf(nodeName);
			journalLogs()
				.get(scope)
				?.append(this.coordinator.unsettledChunks(scope), this.coordinator.report(scope), this.savedProfile(scope));
		}
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
	/** The workflow's node directory, read from Redis once per execution (Flush & Report asks per node). */
	private members?: Promise<Record<string, string>>;
	private regularFiles?: Map<string, JournalFileContent>;

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
		return new Set([...Object.keys(known), ...Object.keys(this.journals), ...this.regularModeFiles().keys(), ...liveNodeNames(this.workflow)]);
	}

	async profileOf(nodeName: string): Promise<ProfileView> {
		const known = await this.knownNodes();
		let saved: Omit<ScopeProfile, 'appKey'> | undefined;
		try {
			saved = known[nodeName] ? (JSON.parse(known[nodeName]) as Omit<ScopeProfile, 'appKey'>) : undefined;
		} catch {
			saved = undefined;
		}
		saved ??= readSavedProfiles(this.staticData)[nodeName] ?? (this.regularModeFiles().get(nodeName)?.profile as SavedProfile | undefined);
		return { live: scopeProfiles().get(this.scopeOf(nodeName)), saved };
	}

	async setProfile(nodeName: string, profile: ScopeProfile): Promise<void> {
		scopeProfiles().set(this.scopeOf(nodeName), profile);
		const { appKey: _appKey, ...saved } = profile;
		await this.engine.remember(this.workflow, nodeName, JSON.stringify(saved));
		this.members = undefined;
	}

	async restore(nodeName: string, sender: Pick<Sender, 'send' | 'pacer'>, settings?: SyncSettings): Promise<string | undefined> {
		liveNodeNames(this.workflow).add(nodeName);
		const file = this.regularModeFile(nodeName);
		const journal = file?.journal ?? this.journals[nodeName];
		if (journal === undefined) return undefined;
		let problem: string | undefined;
		try {
			await this.engine.importJournal(this.scopeOf(nodeName), journal, sender.send, sender.pacer, settings);
		} catch (error) {
			if (!(error instanceof JournalFormatError)) throw error;
			problem = error.message;
		}
		// From now on any process finds the node in Redis, with what its users are retried with.
		const savedProfile = readSavedProfiles(this.staticData)[nodeName] ?? (file?.profile as SavedProfile | undefined);
		if (savedProfile || settings) {
			await this.engine.remember(this.workflow, nodeName, JSON.stringify(savedProfile ?? { requestsPerSecond: undefined, settings }));
			this.members = undefined;
		}
		// Moved (or unreadable): it must not be imported again, nor outlive the move in static data or on disk.
		if (this.journals[nodeName] !== undefined) this.forgetStaticJournal(nodeName);
		if (file) rmSync(journalFilePath(this.workflow, nodeName), { force: true });
		return problem;
	}

	/** The journal files regular mode left on this machine for the workflow (read once per process and workflow). */
	private regularModeFiles(): Map<string, JournalFileContent> {
		if (!this.regularFiles) {
			const looked = filesLookedFor();
			this.regularFiles = this.manual || looked.has(this.workflow) ? new Map() : readWorkflowJournals(this.workflow);
			looked.add(this.workflow);
		}
		return this.regularFiles;
	}

	private regularModeFile(nodeName: string): JournalFileContent | undefined {
		const file = this.regularModeFiles().get(nodeName);
		this.regularModeFiles().delete(nodeName);
		return file;
	}

	async activeWorkflowCounters(): Promise<Record<string, Counters>> {
		const production = workflowKey(this.workflowId, 'production');
		const counters: Record<string, Counters> = {};
		for (const nodeName of Object.keys(await this.engine.members(production))) {
			counters[nodeName] = await this.engine.report(scopeName(production, nodeName));
		}
		return counters;
	}

	/** Nothing to write: the engine's state is in Redis (a journal moved out of static data was removed there). */
	save(): void {}
}

/** The book of this execution's workflow, where the engine keeps it. */
export function bookFor(context: IExecuteFunctions, engine: SyncCoordinator | RedisSyncCoordinator): ScopeBook {
	return engine.kind === 'redis' ? new SharedScopeBook(context, engine) : new JournalSession(context, engine);
}
