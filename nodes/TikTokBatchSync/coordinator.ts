import { NodeApiError, NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

import type { SharedAudienceNames } from '../shared/audiences';
import { processWide, replaceProcessWide } from '../shared/processWide';
import { useSharedPacers } from '../shared/transport/rateLimit';
import { MAX_USERS_PER_REQUEST } from '../shared/transport/types';
import { RedisSyncCoordinator, SyncCoordinator, type CoordinatorOptions, type RedisClient } from './engine';
import { RedisPacer } from './engine/redis/pacer';
import { describeMode, lastConnectionError, openRedis, selectSyncMode, unreachableMessage, type SyncMode } from './redisMode';

const ENGINE = 'batch-sync-engine.v2';
/** How long a request claimed by one n8n process is its own before another may send it (ms; renewed while sending). */
export const LEASE_SETTING = 'N8N_TIKTOK_SYNC_LEASE_MS';

/** Either engine (both are BatchSyncEngines; `kind` tells them apart). */
export type Engine = SyncCoordinator | RedisSyncCoordinator;

/** The engine this process uses, how it was chosen, and (in Redis mode) its client. */
export interface EngineContext {
	engine: Engine;
	mode: SyncMode;
	redis?: RedisClient;
	/** Whether the mode line went to n8n's log yet (once per process). */
	logged?: boolean;
}

/** A coordinator sized for TikTok's requests (10,000 users each). */
export function newTikTokCoordinator(options: Omit<CoordinatorOptions, 'requestCapacity'> = {}): SyncCoordinator {
	return new SyncCoordinator({ ...options, requestCapacity: MAX_USERS_PER_REQUEST });
}

function leaseMs(env: NodeJS.ProcessEnv): number | undefined {
	const value = Number(env[LEASE_SETTING]);
	return Number.isFinite(value) && value >= 1_000 ? value : undefined;
}

/**
 * The engine every Batch Sync node of this n8n process shares, chosen once (redisMode.ts decides: in queue mode
 * Redis, else in-process) and said in one line through `log` at the first use that has a log. A setting that cannot
 * be used throws (every time, until it is fixed): no silent fallback to per-process pacing.
 */
export function getEngineContext(log?: (line: string) => void): EngineContext {
	const context = processWide<EngineContext>(ENGINE, () => {
		const mode = selectSyncMode();
		if (mode.kind === 'in-process') return { engine: newTikTokCoordinator(), mode };
		const redis = openRedis(mode.target);
		const engine = new RedisSyncCoordinator({
			redis,
			keyPrefix: mode.target.keyPrefix,
			requestCapacity: MAX_USERS_PER_REQUEST,
			leaseMs: leaseMs(process.env),
		});
		sharePacersThrough(redis, mode.target.keyPrefix);
		return { engine, mode, redis };
	});
	if (log && !context.logged) {
		context.logged = true;
		log(describeMode(context.mode));
	}
	return context;
}

/** The engine context for a node run: chosen mode logged through n8n's logger; an unusable setting is a node error. */
export function engineContextFor(context: IExecuteFunctions): EngineContext {
	try {
		return getEngineContext((line) => context.logger.info(line));
	} catch (error) {
		throw new NodeOperationError(context.getNode(), (error as Error).message, {
			description: 'Fix the setting in the environment of every n8n process (main, webhook processors and workers), then restart them.',
		});
	}
}

/** The process-wide engine (see getEngineContext). */
export function getCoordinator(): Engine {
	return getEngineContext().engine;
}

/**
 * Tests only: make `engine` the process-wide one (e.g. one built with a fake clock, so a node run can cover a 13 h
 * retry horizon in milliseconds), with `mode` (default: in-process). `undefined` clears it; the next use chooses
 * again. Returns the engine it replaced. Never called by the nodes.
 */
export function setCoordinatorForTests(engine: Engine | undefined, context: Partial<EngineContext> = {}): Engine | undefined {
	const mode: SyncMode = context.mode ?? { kind: 'in-process', why: 'set by a test' };
	const previous = replaceProcessWide<EngineContext>(ENGINE, engine ? { engine, mode, redis: context.redis } : undefined);
	if (context.redis && mode.kind === 'redis') sharePacersThrough(context.redis, mode.target.keyPrefix);
	else useSharedPacers(undefined);
	return previous?.engine;
}

/**
 * A failure of the shared state as the node reports it: in Redis mode, the setting and address tried and what to do
 * (the users were not accepted); otherwise the error itself.
 */
export function sharedStateFailure(context: IExecuteFunctions, engineContext: EngineContext, error: unknown): Error {
	if (engineContext.mode.kind !== 'redis' || error instanceof NodeOperationError || error instanceof NodeApiError) return error as Error;
	const cause = (engineContext.redis && lastConnectionError(engineContext.redis)) ?? error;
	// n8n replaces a message that holds a socket error code with a generic one ("The service refused the connection"),
	// which would hide the setting and the address: say the code in words.
	const message = unreachableMessage(engineContext.mode.target, cause).replace(/\b(?:connect )?(E[A-Z]{4,})\b/g, (_match, code: string) => SOCKET_ERRORS[code] ?? code.toLowerCase());
	return new NodeOperationError(context.getNode(), message, {
		description: 'No user of this run was accepted. Start Redis or fix the setting; Batch Sync never falls back to per-process pacing in queue mode.',
	});
}

const SOCKET_ERRORS: Record<string, string> = {
	ECONNREFUSED: 'connection refused',
	ECONNRESET: 'connection reset',
	ETIMEDOUT: 'connection timed out',
	ENOTFOUND: 'host not found',
	EHOSTUNREACH: 'host unreachable',
	EAI_AGAIN: 'name lookup failed',
};

/** Audience names made once across every process, on the Redis engine's lock and shared values. */
export function sharedAudienceNames(engine: RedisSyncCoordinator): SharedAudienceNames {
	return {
		withLock: (key, work) => engine.withLock(`audience:${key}`, work),
		recall: (key) => engine.recallValue(`audience:${key}`),
		note: (key, audienceId) => engine.noteValue(`audience:${key}`, audienceId),
	};
}

/** Queue mode: every request to TikTok from this process (both nodes) takes from the app's budget in Redis. */
function sharePacersThrough(redis: RedisClient, keyPrefix: string): void {
	useSharedPacers((appKey, options) => new RedisPacer(redis, { keyPrefix, appKey, ...options }));
}
