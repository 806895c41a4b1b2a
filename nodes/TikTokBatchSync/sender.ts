import { forgetAudienceAfterFailure } from '../shared/audiences';
import { describeTikTokFailure } from '../shared/errors';
import { appKeyFor, TikTokClient, type TikTokConnection } from '../shared/transport/client';
import { isTikTokApiError } from '../shared/transport/errors';
import { buildMappingRequest, type MappingBatch } from '../shared/transport/mapping';
import { pacerFor } from '../shared/transport/rateLimit';
import { SendFailure, type FailureInfo, type RedisClient, type RequestPacer, type SendMapping } from './engine';
import { RedisPacer } from './engine/redis/pacer';
import type { EngineContext } from './coordinator';

/** The engine paces requests itself (so it can schedule them); the client it sends through must not pace again. */
export const ALREADY_PACED: RequestPacer = { acquire: async () => undefined };

export interface Sender {
	connection: TikTokConnection;
	/** A paced client for the node's own calls (audience lookups). */
	client: TikTokClient;
	send: SendMapping;
	pacer: RequestPacer;
}

/** A TikTok failure as the engine acts on it: its class, whether TikTok asked to slow down, and the one-line reason. */
export function classifyForEngine(error: unknown): FailureInfo {
	if (isTikTokApiError(error)) {
		return { errorClass: error.errorClass, isRateLimit: error.isRateLimit, reason: describeTikTokFailure(error) };
	}
	return { errorClass: 'retryable', isRateLimit: false, reason: describeTikTokFailure(error) };
}

/** Sends one engine batch through `client`: the shared request builder, then TikTok's classification for the engine. */
export function mappingSender(client: TikTokClient): SendMapping {
	return async (batch: MappingBatch) => {
		try {
			await client.segmentMapping(buildMappingRequest(batch));
		} catch (error) {
			forgetAudienceAfterFailure(client.baseUrl, batch.target.advertiserId, batch.target.audienceId, error);
			throw new SendFailure(classifyForEngine(error));
		}
	};
}

/** Where the TikTok app's request budget is kept: this process (regular mode), or Redis for every process (queue mode). */
export interface SharedBudget {
	redis: RedisClient;
	keyPrefix: string;
}

/**
 * How one scope sends through `connection` (read once per execution with getConnection). The node's own calls
 * (audience lookups) and the engine's requests take from the same budget.
 */
export function senderFor(connection: TikTokConnection, callerKey: string, requestsPerSecond?: number, shared?: SharedBudget): Sender {
	const appKey = appKeyFor(connection);
	const pacer: RequestPacer = shared
		? new RedisPacer(shared.redis, { keyPrefix: shared.keyPrefix, appKey, callerKey, requestsPerSecond })
		: pacerFor(appKey, { callerKey, requestsPerSecond });
	return {
		connection,
		client: shared ? new TikTokClient(connection, { pacer }) : new TikTokClient(connection),
		send: mappingSender(new TikTokClient(connection, { pacer: ALREADY_PACED })),
		pacer,
	};
}

/** The shared budget of an engine context, if it has one (Redis mode). */
export function sharedBudgetOf(context: EngineContext): SharedBudget | undefined {
	return context.redis && context.mode.kind === 'redis' ? { redis: context.redis, keyPrefix: context.mode.target.keyPrefix } : undefined;
}
