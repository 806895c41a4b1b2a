import type { IExecuteFunctions } from 'n8n-workflow';

import { forgetAudienceAfterFailure } from '../shared/audiences';
import { ACCESS_TOKEN_CREDENTIAL, getConnection, OAUTH2_CREDENTIAL } from '../shared/connection';
import { fixedParameter, nodeOf } from '../shared/fastParameters';
import { processWide } from '../shared/processWide';
import { describeTikTokFailure } from '../shared/errors';
import { appKeyFor, TikTokClient, type TikTokConnection } from '../shared/transport/client';
import { isTikTokApiError } from '../shared/transport/errors';
import { buildMappingRequest, type MappingBatch } from '../shared/transport/mapping';
import { pacerFor } from '../shared/transport/rateLimit';
import { SendFailure, type FailureInfo, type RequestPacer, type SendMapping } from './engine';
import { SENDER_REUSE_MS } from './engine/limits';

/** The engine paces requests itself (so it can schedule them); the client it sends through must not pace again. */
export const ALREADY_PACED: RequestPacer = { acquire: async () => undefined };

export interface Sender {
	connection: TikTokConnection;
	/** The TikTok app (or token digest) the connection belongs to: appKeyFor(connection). */
	appKey: string;
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
	const appKey = appKeyFor(connection);
	return {
		connection,
		appKey,
		client: new TikTokClient(connection),
		send: mappingSender(new TikTokClient(connection, { pacer: ALREADY_PACED })),
		pacer: pacerFor(appKey, { callerKey, requestsPerSecond }),
	};
}

interface CachedSender {
	sender: Sender;
	until: number;
}

function cachedSenders(): Map<string, CachedSender> {
	return processWide('batch-sync-senders', () => new Map<string, CachedSender>());
}

/**
 * senderFor on the node's credential, reused for a few seconds (SENDER_REUSE_MS) by the node's executions: reading a
 * credential makes n8n query its database, decrypt and resolve it, which at one user per execution cost more than
 * everything else the node does. An edited credential is used after at most that long; one TikTok refuses as
 * unauthorized is read again at the next execution.
 */
export async function reusedSenderFor(context: IExecuteFunctions, callerKey: string, requestsPerSecond?: number): Promise<Sender> {
	const node = nodeOf(context);
	const authentication = fixedParameter<string>(context, 'authentication', 'oAuth2');
	const type = authentication === 'accessToken' ? ACCESS_TOKEN_CREDENTIAL : OAUTH2_CREDENTIAL;
	const credentialId = node.credentials?.[type]?.id ?? '';
	const key = JSON.stringify([context.getWorkflow().id ?? '', callerKey, type, credentialId, requestsPerSecond ?? 0]);
	const senders = cachedSenders();
	const now = Date.now();
	const cached = senders.get(key);
	if (cached && cached.until > now) return cached.sender;
	const sender = senderFor(await getConnection(context), callerKey, requestsPerSecond);
	const send = sender.send;
	sender.send = async (batch, options) => {
		try {
			await send(batch, options);
		} catch (error) {
			// A revoked or expired token: the next execution reads the credential again (it may have been reconnected).
			if (SendFailure.is(error) && error.info.errorClass === 'reauthorize' && senders.get(key)?.sender === sender) senders.delete(key);
			throw error;
		}
	};
	if (senders.size > 1_000) senders.clear();
	senders.set(key, { sender, until: now + SENDER_REUSE_MS });
	return sender;
}

/** Tests: forget the reused senders (a new process). */
export function forgetReusedSenders(): void {
	cachedSenders().clear();
}
