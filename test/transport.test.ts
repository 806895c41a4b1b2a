import { TikTokClient, normaliseBaseUrl, serialiseQuery, type TikTokConnection } from '../nodes/shared/transport/client';
import { classifyFailure, TikTokApiError } from '../nodes/shared/transport/errors';
import { DEMO, type TikTokLocal } from './tiktok-local/server';
import { useLocalTikTok } from './harness/localTikTok';
import { ALREADY_PACED } from '../nodes/TikTokBatchSync/sender';

const US = DEMO.advertisers[0].id;

let local: TikTokLocal;

function connection(overrides: Partial<TikTokConnection> = {}): TikTokConnection {
	return { baseUrl: local.url, accessToken: DEMO.accessToken, appId: DEMO.appId, secret: DEMO.secret, ...overrides };
}

async function failureOf(promise: Promise<unknown>): Promise<TikTokApiError> {
	try {
		await promise;
	} catch (error) {
		expect(error).toBeInstanceOf(TikTokApiError);
		return error as TikTokApiError;
	}
	throw new Error('expected the call to fail');
}

function hex(length: number, seed: number): string {
	return seed.toString(16).padStart(length, '0').slice(-length);
}

useLocalTikTok((started) => (local = started));

describe('requests and the envelope', () => {
	it('reads user info with the demo token', async () => {
		const info = await new TikTokClient(connection()).getUserInfo();
		expect(info.core_user_id).toBe(DEMO.user.coreUserId);
	});

	it('lists the ad accounts of the token, with the app ID and secret', async () => {
		const advertisers = await new TikTokClient(connection()).listAdvertisers();
		expect(advertisers).toEqual(DEMO.advertisers.map((a) => ({ id: a.id, name: a.name })));
		const missing = await failureOf(new TikTokClient(connection({ secret: undefined })).listAdvertisers());
		expect(missing.errorClass).toBe('permanent');
		expect(missing.message).toMatch(/App ID and Secret/);
	});

	it('creates, lists, gets and deletes a segment audience (array query parameters sent as JSON)', async () => {
		const client = new TikTokClient(connection());
		const audienceId = await client.createSegmentAudience(US, 'n8n: buyers');
		const page = await client.listCustomAudiences(US, 1, 100);
		expect(page.list.map((a) => a.audience_id)).toContain(audienceId);
		const [details] = await client.getCustomAudiences(US, [audienceId]);
		expect(details).toMatchObject({ audience_id: audienceId, name: 'n8n: buyers' });
		await client.deleteSegmentAudience(US, audienceId);
		const gone = await failureOf(client.getCustomAudiences(US, [audienceId]));
		expect(gone.errorClass).toBe('permanent');
	});

	it('adds and removes users with segment/mapping', async () => {
		const client = new TikTokClient(connection());
		const audienceId = await client.createSegmentAudience(US, 'mapping');
		const email = hex(64, 1);
		const phone = hex(64, 2);
		await client.segmentMapping({
			advertiserIds: [US],
			action: 'add',
			idSchema: ['EMAIL_SHA256', 'PHONE_SHA256'],
			batchData: [[{ id: email, audience_ids: [audienceId] }, {}], [{}, { id: phone, audience_ids: [audienceId] }]],
		});
		expect(local.members(audienceId).sort()).toEqual([`EMAIL_SHA256:${email}`, `PHONE_SHA256:${phone}`]);
		await client.segmentMapping({
			advertiserIds: [US],
			action: 'delete',
			idSchema: ['EMAIL_SHA256'],
			batchData: [[{ id: email, audience_ids: [audienceId] }]],
		});
		expect(local.members(audienceId)).toEqual([`PHONE_SHA256:${phone}`]);
	});

	it('normalises base URLs and serialises arrays as JSON strings', () => {
		expect(normaliseBaseUrl(' https://business-api.tiktok.com/open_api/v1.3/ ')).toBe('https://business-api.tiktok.com');
		expect(serialiseQuery({ custom_audience_ids: ['1', '2'], page: 2, skip: undefined })).toEqual({
			custom_audience_ids: '["1","2"]',
			page: '2',
		});
	});
});

describe('error classes chosen from real responses', () => {
	it('a wrong or revoked token needs re-authorisation', async () => {
		const wrong = await failureOf(new TikTokClient(connection({ accessToken: 'nope' })).getUserInfo());
		expect(wrong).toMatchObject({ code: 40105, errorClass: 'reauthorize', httpStatus: 200 });
		expect(wrong.requestId).toBeTruthy();

		local.revokeToken(DEMO.accessToken);
		const revoked = await failureOf(new TikTokClient(connection()).getUserInfo());
		expect(revoked.errorClass).toBe('reauthorize');
	});

	it('an HTTP 403 for a bad token also needs re-authorisation', async () => {
		local.setConfig({ invalidTokenHttpStatus: 403 });
		const error = await failureOf(new TikTokClient(connection({ accessToken: 'nope' })).getUserInfo());
		expect(error).toMatchObject({ httpStatus: 403, errorClass: 'reauthorize' });
	});

	it('a malformed mapping batch is permanent', async () => {
		const client = new TikTokClient(connection());
		const audienceId = await client.createSegmentAudience(US, 'strict');
		const rowTooShort = await failureOf(
			client.segmentMapping({
				advertiserIds: [US],
				action: 'add',
				idSchema: ['EMAIL_SHA256', 'PHONE_SHA256'],
				batchData: [[{ id: hex(64, 3), audience_ids: [audienceId] }]],
			}),
		);
		expect(rowTooShort.errorClass).toBe('permanent');
		expect(rowTooShort.code).not.toBe(0);
		const badHash = await failureOf(
			client.segmentMapping({
				advertiserIds: [US],
				action: 'add',
				idSchema: ['EMAIL_SHA256'],
				batchData: [[{ id: 'jane@example.com', audience_ids: [audienceId] }]],
			}),
		);
		expect(badHash.errorClass).toBe('permanent');
		expect(local.members(audienceId)).toEqual([]);
	});

	it.each([
		[{ code: 40100 }, 'retryable', true],
		[{ code: 50000 }, 'retryable', false],
		[{ code: 50002 }, 'retryable', false],
		[{ code: 51003 }, 'retryable', false],
		[{ code: 40105 }, 'reauthorize', false],
		[{ code: 40002 }, 'permanent', false],
		[{ code: 40001 }, 'permanent', false],
		[{ httpStatus: 429, html: true }, 'retryable', true],
		[{ httpStatus: 502, html: true }, 'retryable', false],
		[{ reset: true }, 'retryable', false],
	])('injected fault %p is %s', async (fault, errorClass, isRateLimit) => {
		local.injectFault({ count: 1, ...fault });
		const error = await failureOf(new TikTokClient(connection(), { pacer: ALREADY_PACED }).getUserInfo());
		expect(error.errorClass).toBe(errorClass);
		expect(error.isRateLimit).toBe(isRateLimit);
		// The fault was for one request only: the next one succeeds.
		await expect(new TikTokClient(connection(), { pacer: ALREADY_PACED }).getUserInfo()).resolves.toBeTruthy();
	});

	it('code 20001 (PARTIAL_OK) counts as success', async () => {
		local.injectFault({ count: 1, code: 20001, message: 'Partial OK' });
		await expect(new TikTokClient(connection(), { pacer: ALREADY_PACED }).getUserInfo()).resolves.toBeDefined();
	});

	it('a response slower than the timeout is retryable', async () => {
		local.injectFault({ count: 1, delayMs: 1500 });
		const error = await failureOf(new TikTokClient(connection(), { timeoutMs: 300, pacer: ALREADY_PACED }).getUserInfo());
		expect(error).toMatchObject({ errorClass: 'retryable', message: 'TikTok did not answer in time' });
	});

	it('classifies codes and statuses as documented', () => {
		expect(classifyFailure({ code: 60001 })).toBe('retryable');
		expect(classifyFailure({ code: 40130 })).toBe('reauthorize');
		expect(classifyFailure({ httpStatus: 401 })).toBe('reauthorize');
		expect(classifyFailure({ code: 40007 })).toBe('permanent');
		expect(classifyFailure({ malformedBody: true, httpStatus: 200 })).toBe('retryable');
	});
});

describe('rate limits', () => {
	it('the local API answers 40100 when a client exceeds 50 requests/s', async () => {
		const client = new TikTokClient(connection(), { pacer: ALREADY_PACED });
		const results = await Promise.allSettled(Array.from({ length: 80 }, () => client.getUserInfo()));
		const limited = results.filter((r) => r.status === 'rejected' && (r.reason as TikTokApiError).code === 40100);
		expect(limited.length).toBeGreaterThanOrEqual(25);
		expect((limited[0] as PromiseRejectedResult).reason).toMatchObject({ errorClass: 'retryable', isRateLimit: true });
	});

	it('the shared pacer keeps every client of one app at or under 50 requests/s', async () => {
		// Two clients (as two workflows would) share the app's budget.
		const a = new TikTokClient(connection());
		const b = new TikTokClient(connection());
		const started = Date.now();
		await Promise.all(Array.from({ length: 120 }, (_, i) => (i % 2 ? a : b).getUserInfo()));
		const elapsed = Date.now() - started;
		const stats = local.stats();
		expect(stats.rejectedRateLimited).toBe(0);
		expect(stats.maxRequestsPerSecondByApp[DEMO.appId]).toBeLessThanOrEqual(50);
		// …and not far below it (loose: a busy 2-core machine delays timers; the ceiling is what must hold).
		expect(stats.maxRequestsPerSecondByApp[DEMO.appId]).toBeGreaterThanOrEqual(30);
		expect(elapsed).toBeGreaterThanOrEqual(2000);
	});
});
