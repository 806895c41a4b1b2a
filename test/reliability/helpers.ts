/**
 * Shared pieces of the reliability suite: the local TikTok API, credentials and node builders, a manual clock that
 * can drive the Batch Sync engine through real HTTP calls (so "13 hours" run in milliseconds while every request
 * still crosses a socket), a generator node for large or hostile inputs, and watchers for unhandled rejections,
 * n8n's logger and the console.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as vm from 'node:vm';

import { Logger } from '@n8n/backend-common';
import { Container } from '@n8n/di';
import { TokenBucket } from 'limiter';
import {
	LoggerProxy,
	type IDataObject,
	type IExecuteFunctions,
	type INode,
	type INodeExecutionData,
	type INodeType,
	type INodeTypeDescription,
	type IRun,
} from 'n8n-workflow';

import { TikTokClient } from '../../nodes/shared/transport/client';
import { journalFolder, resetJournalMemory, workflowJournalFolder } from '../../nodes/TikTokBatchSync/journalStore';
import { forgetReusedSenders } from '../../nodes/TikTokBatchSync/sender';
import { chain, outputOf, registerNodeType, runWorkflow, type CredentialFixtures } from '../harness/n8n';
import type { TikTokLocal } from '../tiktok-local/server';
import { FakeClock } from '../harness/clock';
import { accessTokenCredentials } from '../harness/fixtures';


// ---------------------------------------------------------------------------------------------------------------
// Unhandled rejections
// ---------------------------------------------------------------------------------------------------------------

/**
 * The real Node process. Inside jest's sandbox `process` is a copy whose listeners never fire; code compiled by
 * vm.runInThisContext runs in the outer context and sees the real one.
 */
export function realProcess(): NodeJS.Process {
	return vm.runInThisContext('process') as NodeJS.Process;
}

/** Records every unhandled rejection (and uncaught exception) of the process until stop(). */
export function watchUnhandled(): { seen: unknown[]; stop: () => void } {
	const proc = realProcess();
	const seen: unknown[] = [];
	const onRejection = (reason: unknown) => seen.push(reason);
	const onException = (error: unknown) => seen.push(error);
	proc.on('unhandledRejection', onRejection);
	proc.on('uncaughtException', onException);
	return {
		seen,
		stop: () => {
			proc.off('unhandledRejection', onRejection);
			proc.off('uncaughtException', onException);
		},
	};
}

// ---------------------------------------------------------------------------------------------------------------
// Manual clock + in-flight tracking: the engine on a fake timeline, its requests over real HTTP
// ---------------------------------------------------------------------------------------------------------------


const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function drainImmediates(): Promise<void> {
	for (let round = 0; round < 4; round++) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Tracks every TikTok request in flight (TikTokClient.request, whoever built the client) and every wait on a
 * rate-limit bucket, so a test can wait until the system is idle before it moves the manual clock on.
 */
export class InflightTracker {
	private readonly inflight = new Set<Promise<unknown>>();
	private spies: jest.SpyInstance[] = [];

	install(): void {
		const request = TikTokClient.prototype.request;
		const removeTokens = TokenBucket.prototype.removeTokens;
		const track = <T>(promise: Promise<T>): Promise<T> => {
			this.inflight.add(promise);
			promise.then(
				() => this.inflight.delete(promise),
				() => this.inflight.delete(promise),
			);
			return promise;
		};
		this.spies = [
			jest
				.spyOn(TikTokClient.prototype, 'request')
				.mockImplementation(function (this: TikTokClient, ...args: Parameters<TikTokClient['request']>) {
					return track(request.apply(this, args));
				} as TikTokClient['request']),
			jest.spyOn(TokenBucket.prototype, 'removeTokens').mockImplementation(function (this: TokenBucket, count: number) {
				return track(removeTokens.call(this, count));
			}),
		];
	}

	restore(): void {
		for (const spy of this.spies) spy.mockRestore();
		this.spies = [];
	}

	get size(): number {
		return this.inflight.size;
	}

	/** Resolves once no request is in flight and the promise callbacks they released have run. */
	async idle(): Promise<void> {
		for (;;) {
			await drainImmediates();
			if (this.inflight.size === 0) {
				await drainImmediates();
				if (this.inflight.size === 0) return;
			}
			await Promise.allSettled([...this.inflight]);
		}
	}
}

/** Moves a FakeClock timer by timer, waiting for the real requests each timer starts before going on. */
export class Driver {
	constructor(
		readonly clock: FakeClock,
		readonly tracker: InflightTracker,
	) {}

	/** Fires every timer due by `target` in time order, letting the requests each starts finish in between. */
	async advanceTo(target: number): Promise<void> {
		await this.tracker.idle();
		for (;;) {
			const next = this.clock.nextTimerAt();
			if (next === undefined || next > target) break;
			this.clock.setTime(next);
			this.clock.fireOneDue();
			await this.tracker.idle();
		}
		this.clock.setTime(target);
		await this.tracker.idle();
	}

	advance(ms: number): Promise<void> {
		return this.advanceTo(this.clock.now() + ms);
	}

	/**
	 * Waits for `work` (an execution, a submit) without moving time on: fires timers due now (a 0 s window) and
	 * lets real requests finish until it settles. Fails after `realTimeoutMs` of real time.
	 */
	async settle<T>(work: Promise<T>, realTimeoutMs = 20_000): Promise<T> {
		let done = false;
		work.then(
			() => (done = true),
			() => (done = true),
		);
		const started = Date.now();
		while (!done) {
			while (this.clock.fireOneDue()) await this.tracker.idle();
			await this.tracker.idle();
			if (done) break;
			if (Date.now() - started > realTimeoutMs) throw new Error('work did not settle without the clock moving');
			await realSleep(2);
		}
		return await work;
	}
}

// Items for a run come from this registry instead of a JSON parameter: no 100 MB parameter strings, no parsing.
const generated = new Map<string, IDataObject[]>();
let generatedCounter = 0;

class GeneratedItems implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'Generated Items',
		name: 'testGenerated',
		group: ['input'],
		version: 1,
		description: 'Emits items registered by the test',
		defaults: { name: 'Items' },
		inputs: ['main'],
		outputs: ['main'],
		properties: [{ displayName: 'Key', name: 'key', type: 'string', default: '' }],
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const records = generated.get(this.getNodeParameter('key', 0) as string) ?? [];
		return [records.map((json, item) => ({ json, pairedItem: { item } }))];
	}
}
registerNodeType('test.generated', () => new GeneratedItems());

export function generatedItemsNode(records: IDataObject[], name = 'Items'): INode {
	const key = `records-${++generatedCounter}`;
	generated.set(key, records);
	return { id: `node-${name}`, name, type: 'test.generated', typeVersion: 1, position: [0, 0], parameters: { key } };
}

export interface NodeRun {
	run: IRun;
	/** What n8n would save: a plain JSON copy of the static data after the run. */
	staticData: IDataObject;
	/** The text of the workflow's Batch Sync journal files after the run (regular mode keeps the journal there). */
	journalText: string;
	/** Output `index` of the node under test, as JSON. */
	output(index?: number): IDataObject[];
	/** The run's error, if the workflow failed. */
	error?: IRun['data']['resultData']['error'];
}

/** Every journal file of a workflow, as text (empty when there is none). */
export function workflowJournalText(workflowId: string): string {
	const folder = workflowJournalFolder(workflowId);
	if (!existsSync(folder)) return '';
	return readdirSync(folder)
		.sort()
		.map((name) => readFileSync(join(folder, name), 'utf8'))
		.join('');
}

/** A fresh n8n data folder for the journal, and no scope remembered (a new process). */
export function forgetJournals(): void {
	resetJournalMemory();
	forgetReusedSenders();
	rmSync(journalFolder(), { recursive: true, force: true });
}

export async function runOne(
	local: TikTokLocal,
	node: INode,
	records: IDataObject[],
	options: { staticData?: IDataObject; credentials?: CredentialFixtures; workflowId?: string; mode?: 'webhook' | 'manual' | 'trigger' } = {},
): Promise<NodeRun> {
	const items = generatedItemsNode(records);
	const { run, staticData } = await runWorkflow({
		nodes: [items, node],
		connections: chain(items.name, node.name),
		credentials: options.credentials ?? accessTokenCredentials(local),
		staticData: options.staticData ?? {},
		mode: options.mode ?? 'webhook',
		workflowId: options.workflowId ?? 'wf-reliability',
	});
	return {
		run,
		staticData: JSON.parse(JSON.stringify(staticData)) as IDataObject,
		journalText: workflowJournalText(options.workflowId ?? 'wf-reliability'),
		output: (index = 0) => outputOf(run, node.name, index).map((item) => item.json),
		error: run.data.resultData.error,
	};
}

// ---------------------------------------------------------------------------------------------------------------
// What got logged
// ---------------------------------------------------------------------------------------------------------------

export interface LogCapture {
	/** One line per call: level, message and its metadata as JSON. */
	lines: string[];
	restore(): void;
}

/**
 * Replaces n8n's Logger in the DI container (what a node's `this.logger` returns) and LoggerProxy (what n8n-core's
 * engine logs through), and spies on console.* and process stdout/stderr, recording everything at every level.
 */
export function captureLogs(): LogCapture {
	const lines: string[] = [];
	const record = (level: string) => (message: unknown, meta?: unknown) => {
		lines.push(`${level} ${String(message)} ${safeJson(meta)}`);
	};
	const logger = {
		error: record('error'),
		warn: record('warn'),
		info: record('info'),
		debug: record('debug'),
		scoped: () => logger,
	};
	// n8n's own logger (created now if nothing asked for it yet), put back by restore().
	const previous = Container.get(Logger);
	Container.set(Logger, logger as unknown as Logger);
	LoggerProxy.init(logger as unknown as Logger);
	const spies = (['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((method) =>
		jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
			lines.push(`console.${method} ${args.map((arg) => (typeof arg === 'string' ? arg : safeJson(arg))).join(' ')}`);
		}),
	);
	const streams = [process.stdout, process.stderr].map((stream) =>
		jest.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => {
			lines.push(`stream ${String(chunk)}`);
			return true;
		}) as typeof stream.write),
	);
	return {
		lines,
		restore: () => {
			for (const spy of [...spies, ...streams]) spy.mockRestore();
			Container.set(Logger, previous);
			LoggerProxy.init(previous);
		},
	};
}

function safeJson(value: unknown): string {
	if (value === undefined) return '';
	try {
		return JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Error ? { name: inner.name, message: inner.message, stack: inner.stack } : inner));
	} catch {
		return String(value);
	}
}

/** The needles found in the haystack (case-insensitive). */
export function leaksIn(haystack: string, needles: string[]): string[] {
	const lower = haystack.toLowerCase();
	return needles.filter((needle) => lower.includes(needle.toLowerCase()));
}

/** Every error a run recorded: the workflow's and each node run's, serialised as n8n would store them. */
export function runErrors(run: IRun): unknown[] {
	const errors: unknown[] = [];
	if (run.data.resultData.error) errors.push(run.data.resultData.error);
	for (const runs of Object.values(run.data.resultData.runData)) {
		for (const taskData of runs) {
			if (taskData.error) errors.push(taskData.error);
			if (taskData.hints?.length) errors.push(taskData.hints);
		}
	}
	return errors;
}

/** JSON of an error including its non-enumerable message, description and stack. */
export function errorJson(error: unknown): string {
	return safeJson(error) + ' ' + (error instanceof Error ? `${error.message} ${error.stack ?? ''} ${(error as { description?: string }).description ?? ''}` : '');
}

/** Each item's result under `tiktokSync`: TikTok Audience's User Add/Remove output, Batch Sync's Users output. */
export function syncResults(items: IDataObject[]): IDataObject[] {
	return items.map((item) => item.tiktokSync as IDataObject);
}
