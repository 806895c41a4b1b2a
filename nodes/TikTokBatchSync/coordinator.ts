import type { IExecuteFunctions } from 'n8n-workflow';

import { processWide, replaceProcessWide } from '../shared/processWide';
import {
	getSharedState,
	setSharedStateForTests,
	sharedStateError,
	sharedStateFor,
	type SharedState,
} from '../shared/sharedState';
import type { RedisClient } from '../shared/redis/client';
import type { SyncMode } from '../shared/redis/settings';
import { MAX_USERS_PER_REQUEST } from '../shared/transport/types';
import { MIN_LEASE_MS, RedisSyncCoordinator, SyncCoordinator, type CoordinatorOptions } from './engine';

const ENGINE = 'batch-sync-engine.v3';
/** How long a request claimed by one n8n process is its own before another may send it (ms; renewed while sending). */
export const LEASE_SETTING = 'N8N_TIKTOK_SYNC_LEASE_MS';

/** Either engine (both are BatchSyncEngines; `kind` tells them apart). */
export type Engine = SyncCoordinator | RedisSyncCoordinator;

/** The engine this process uses, and the shared state (mode, Redis) it was built on. */
export interface EngineContext {
	engine: Engine;
	state: SharedState;
}

/** A coordinator sized for TikTok's requests (10,000 users each). */
export function newTikTokCoordinator(options: Omit<CoordinatorOptions, 'requestCapacity'> = {}): SyncCoordinator {
	return new SyncCoordinator({ ...options, requestCapacity: MAX_USERS_PER_REQUEST });
}

function leaseMs(env: NodeJS.ProcessEnv): number | undefined {
	const value = Number(env[LEASE_SETTING]);
	return Number.isFinite(value) && value >= MIN_LEASE_MS ? value : undefined;
}

function engineOn(state: SharedState): Engine {
	if (!state.redis) return newTikTokCoordinator();
	return new RedisSyncCoordinator({
		redis: state.redis.client,
		keyPrefix: state.redis.target.keyPrefix,
		requestCapacity: MAX_USERS_PER_REQUEST,
		leaseMs: leaseMs(process.env),
		// n8n's graceful shutdown (SIGTERM/SIGINT): unsent requests go back to the other workers at once.
		shutdownOnSignals: true,
	});
}

/**
 * The engine every Batch Sync node of this n8n process shares, built once on the process's shared state (in queue
 * mode Redis, else in-process). A setting that cannot be used throws (every time, until it is fixed).
 */
function processEngine(state: SharedState): EngineContext {
	return processWide<EngineContext>(ENGINE, () => ({ engine: engineOn(state), state }));
}

/** The engine context for a node run: the mode logged through n8n's logger; an unusable setting is a node error. */
export async function engineContextFor(context: IExecuteFunctions): Promise<EngineContext> {
	return processEngine(await sharedStateFor(context));
}

/** The process-wide engine. */
export function getCoordinator(): Engine {
	return processEngine(getSharedState()).engine;
}

/**
 * Tests only: make `engine` the process-wide one (e.g. one built with a fake clock, so a node run can cover a 13 h
 * retry horizon in milliseconds), with `mode` (default: in-process) and, in Redis mode, the client the rest of the
 * package (pacer, audience names) shares. `undefined` clears both; the next use chooses again. Returns the engine it
 * replaced. Never called by the nodes.
 */
export function setCoordinatorForTests(engine: Engine | undefined, context: { mode?: SyncMode; redis?: RedisClient } = {}): Engine | undefined {
	const mode: SyncMode = context.mode ?? { kind: 'in-process', why: 'set by a test' };
	const state: SharedState | undefined = engine
		? { mode, ...(context.redis && mode.kind === 'redis' ? { redis: { client: context.redis, target: mode.target } } : {}), logged: true }
		: undefined;
	setSharedStateForTests(state);
	const previous = replaceProcessWide<EngineContext>(ENGINE, engine && state ? { engine, state } : undefined);
	return previous?.engine;
}

/**
 * A failure of the shared state as the node reports it: in Redis mode, the setting and address tried and what to do
 * (the users were not accepted); otherwise the error itself.
 */
export function sharedStateFailure(context: IExecuteFunctions, engineContext: EngineContext, error: unknown): Error {
	return sharedStateError(
		context,
		engineContext.state,
		error,
		'No user of this run was accepted. Start Redis or fix the setting; Batch Sync never falls back to per-process pacing in queue mode.',
	);
}
