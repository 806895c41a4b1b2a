import { forgetAudienceAfterFailure } from '../shared/audiences';
import { describeTikTokFailure } from '../shared/errors';
import { appKeyFor, TikTokClient, type TikTokConnection } from '../shared/transport/client';
import { isTikTokApiError } from '../shared/transport/errors';
import { buildMappingRequest, type MappingBatch } from '../shared/transport/mapping';
import { pacerFor } from '../shared/transport/rateLimit';
import { SendFailure, type FailureInfo, type RequestPacer, type SendMapping } from './engine';

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
	return async (batch: MappingBatch, options = {}) => {
		try {
			await client.segmentMapping(buildMappingRequest(batch), { signal: options.signal });
		} catch (error) {
			forgetAudienceAfterFailure(client.baseUrl, batch.target.advertiserId, batch.target.audienceId, error);
			throw new SendFailure(classifyForEngine(error));
		}
	};
}

/**
 * How one scope sends through `connection` (read once per execution with getConnection). The node's own calls
 * (audience lookups) and the engine's requests take from the app's budget (pacerFor: this process's, or in queue
 * mode the one shared through Redis).
 */
export function senderFor(connection: TikTokConnection, callerKey: string, requestsPerSecond?: number): Sender {
	return {
		connection,
		client: new TikTokClient(connection),
		send: mappingSender(new TikTokClient(connection, { pacer: ALREADY_PACED })),
		pacer: pacerFor(appKeyFor(connection), { callerKey, requestsPerSecond }),
	};
}
