import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { getConnection } from '../../shared/connection';
import { appKeyFor, TikTokClient, type TikTokConnection } from '../../shared/transport/client';
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

export async function buildSender(context: IExecuteFunctions, callerKey: string, requestsPerSecond?: number): Promise<Sender> {
	const connection = await getConnection(context);
	const mappingClient = new TikTokClient(connection, { pacer: ALREADY_PACED });
	return {
		connection,
		client: new TikTokClient(connection),
		send: async (request: MappingRequest) => await mappingClient.segmentMapping(request),
		pacer: pacerFor(appKeyFor(connection), { callerKey, requestsPerSecond }),
	};
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
