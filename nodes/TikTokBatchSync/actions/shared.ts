import type { IDataObject } from 'n8n-workflow';

import { forgetAudience } from '../../shared/audiences';
import { appKeyFor, normaliseBaseUrl, TikTokClient, type TikTokConnection } from '../../shared/transport/client';
import { isTikTokApiError } from '../../shared/transport/errors';
import { pacerFor, type RequestPacer } from '../../shared/transport/rateLimit';
import type { MappingRequest } from '../../shared/transport/types';
import type { Counters, SendMapping } from '../engine';

/** The engine paces requests itself (so it can schedule them); the client it sends through must not pace again. */
const ALREADY_PACED: RequestPacer = { acquire: async () => undefined };

export interface Sender {
	connection: TikTokConnection;
	/** A paced client for the node's own calls (audience lookups). */
	client: TikTokClient;
	send: SendMapping;
	pacer: RequestPacer;
}

/** How one scope sends through `connection` (read once per execution with getConnection). */
export function senderFor(connection: TikTokConnection, callerKey: string, requestsPerSecond?: number): Sender {
	const mappingClient = new TikTokClient(connection, { pacer: ALREADY_PACED });
	return {
		connection,
		client: new TikTokClient(connection),
		send: async (request: MappingRequest) => {
			try {
				await mappingClient.segmentMapping(request);
			} catch (error) {
				// TikTok no longer knows the audience: the next run must look its name up again, not reuse the ID.
				if (isTikTokApiError(error) && error.errorClass === 'permanent') forgetAudiencesOf(connection, request);
				throw error;
			}
		},
		pacer: pacerFor(appKeyFor(connection), { callerKey, requestsPerSecond }),
	};
}

function forgetAudiencesOf(connection: TikTokConnection, request: MappingRequest): void {
	const baseUrl = normaliseBaseUrl(connection.baseUrl);
	const slot = request.batchData[0]?.find((candidate) => 'audience_ids' in candidate) as { audience_ids?: string[] } | undefined;
	for (const audienceId of slot?.audience_ids ?? []) {
		for (const advertiserId of request.advertiserIds) forgetAudience(baseUrl, advertiserId, audienceId);
	}
}

export function countersJson(counters: Counters): IDataObject {
	return {
		entered: counters.entered,
		synced: counters.synced,
		notSynced: counters.notSynced,
		pending: counters.pending,
		errored: counters.errored,
		notSyncedReasons: { ...counters.notSyncedReasons },
		erroredReasons: { ...counters.erroredReasons },
	};
}
