import type { Clock } from '../../nodes/TikTokBatchSync/engine';
import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { RequestPacer } from '../../nodes/shared/transport/rateLimit';
import type { Destination } from '../../nodes/TikTokBatchSync/engine';

/** Wall time, but timers never fire: windows never close and retries never come due (a frozen backlog). */
export const frozenClock: Clock = {
	now: () => Date.now(),
	setTimeout: () => ({}),
	clearTimeout: () => undefined,
};

/** A pacer that never grants a slot: cut chunks wait in the queue (and 16 "in flight" before the send). */
export const blockedPacer: RequestPacer = { acquire: () => new Promise<void>(() => undefined) };


/** TikTok unreachable: every attempt fails with a retryable network error. */
export async function unreachable(): Promise<void> {
	throw new TikTokApiError({ message: 'TikTok refused the connection', network: true, path: '/open_api/v1.3/segment/mapping/' });
}

export async function neverCalled(): Promise<void> {
	throw new Error('the bench did not expect a send here');
}

export const BENCH_DESTINATION: Destination = {
	advertiserId: '7100000000000000001',
	audienceId: '1790000000000001',
	action: 'add',
	idSchema: ['EMAIL_SHA256'],
};
