import { NodeApiError, NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

import type { SharedAudienceNames } from './audiences';
import { processWide, replaceProcessWide } from './processWide';
import { audienceNamesOn } from './redis/audienceNames';
import { noPersistenceWarning, openRedis, redisFailure, redisPersists, type RedisHandle } from './redis/client';
import { RedisPacer } from './redis/pacer';
import { describeMode, selectSyncMode, type SyncMode } from './redis/settings';
import { useSharedPacers } from './transport/rateLimit';

/**
 * Where this n8n process keeps what the package's nodes share, chosen once per process (redis/settings.ts decides:
 * Redis in queue mode, the process otherwise) and said once in n8n's log. Both nodes start here: the Batch Sync
 * engine, the TikTok app's rate budget, audience names and mirrored lists all follow the one choice.
 */
export interface SharedState {
	mode: SyncMode;
	/** Redis mode: the connection every part of the package uses. */
	redis?: RedisHandle;
	/** Redis mode: set once known, when Redis keeps nothing on disk (the warning to repeat while users wait). */
	noPersistence?: string;
	/** Whether the mode line (and the persistence warning) went to n8n's log yet. */
	logged?: boolean;
	/** The persistence check, run once at the first use with a log. */
	checked?: Promise<void>;
}

const STATE = 'shared-state.v1';

export interface StateLog {
	info(line: string): void;
	warn(line: string): void;
}

function chooseState(): SharedState {
	const mode = selectSyncMode();
	if (mode.kind === 'in-process') return { mode };
	const redis: RedisHandle = { client: openRedis(mode.target), target: mode.target };
	shareRateBudgetThrough(redis);
	return { mode, redis };
}

/**
 * The state of this process. Throws (every time, until the setting is fixed) when a setting cannot be used: no silent
 * fallback to per-process state in queue mode.
 */
export function getSharedState(): SharedState {
	return processWide<SharedState>(STATE, chooseState);
}

/** Says the mode once in the log and, in Redis mode, checks once whether Redis keeps anything across a restart. */
async function announce(state: SharedState, log: StateLog): Promise<void> {
	if (!state.logged) {
		state.logged = true;
		log.info(describeMode(state.mode));
		const { redis } = state;
		if (redis) {
			state.checked = redisPersists(redis.client)
				.then((persists) => {
					if (persists === false) {
						state.noPersistence = noPersistenceWarning(redis.target);
						log.warn(state.noPersistence);
					}
				})
				// Unreachable now: the run that needs Redis reports it; the check is not repeated.
				.catch(() => undefined);
		}
	}
	await state.checked;
}

/** The state for a node run: the mode logged through n8n's logger; an unusable setting is a node error. */
export async function sharedStateFor(context: IExecuteFunctions): Promise<SharedState> {
	let state: SharedState;
	try {
		state = getSharedState();
	} catch (error) {
		throw new NodeOperationError(context.getNode(), (error as Error).message, {
			description: 'Fix the setting in the environment of every n8n process (main, webhook processors and workers), then restart them.',
		});
	}
	await announce(state, { info: (line) => context.logger.info(line), warn: (line) => context.logger.warn(line) });
	return state;
}

/**
 * A failure of the shared state as a node reports it: in Redis mode the one Redis message (the setting and address
 * tried, what went wrong and what to do); errors that already are n8n's pass through.
 */
export function sharedStateError(context: IExecuteFunctions, state: SharedState, error: unknown, description?: string): Error {
	if (error instanceof NodeOperationError || error instanceof NodeApiError) return error;
	if (!state.redis) return error instanceof Error ? error : new Error(String(error));
	const failure = redisFailure(state.redis.target, state.redis.client, error);
	return new NodeOperationError(context.getNode(), failure.message, description ? { description } : {});
}

/** Audience names made once across every process in Redis mode; undefined in-process (one process needs no lock). */
export function sharedAudienceNames(state: SharedState): SharedAudienceNames | undefined {
	return state.redis ? audienceNamesOn(state.redis) : undefined;
}

/** Redis mode: every request to TikTok from this process (both nodes) takes from the app's budget in Redis. */
function shareRateBudgetThrough(redis: RedisHandle): void {
	const describeFailure = (error: unknown) => redisFailure(redis.target, redis.client, error);
	useSharedPacers(
		(appKey, options) => new RedisPacer(redis.client, { keyPrefix: redis.target.keyPrefix, appKey, ...options, describeFailure }),
	);
}

/**
 * Tests only: make `state` this process's (default: in-process), installing the shared rate budget in Redis mode.
 * `undefined` clears it; the next use chooses again. Returns the state it replaced.
 */
export function setSharedStateForTests(state: SharedState | undefined): SharedState | undefined {
	const previous = replaceProcessWide<SharedState>(STATE, state);
	if (state?.redis) shareRateBudgetThrough(state.redis);
	else useSharedPacers(undefined);
	return previous;
}
