import { createHash } from 'node:crypto';

import { DEMO, OTHER, startTikTokLocal, type TikTokLocal } from './server';

const US = DEMO.advertisers[0].id;
const EU = DEMO.advertisers[1].id;
const OTHER_ADVERTISER = OTHER.advertisers[0].id;

function sha256(text: string): string {
	return createHash('sha256').update(text).digest('hex');
}
function md5(text: string): string {
	return createHash('md5').update(text).digest('hex');
}
function emailHash(i: number): string {
	return sha256(`user${i}@example.com`);
}

interface Envelope {
	code: number;
	message: string;
	request_id: string;
	data: Record<string, unknown> & { list?: Array<Record<string, unknown>> };
	[field: string]: unknown;
}

interface CallOptions {
	method?: 'GET' | 'POST' | 'DELETE' | 'PUT';
	/** null sends no Access-Token header. */
	token?: string | null;
	body?: unknown;
	form?: Record<string, string>;
	query?: Record<string, string>;
}

function makeClient(getLocal: () => TikTokLocal) {
	return async function call(route: string, options: CallOptions = {}): Promise<{ status: number; body: Envelope; headers: Headers }> {
		const local = getLocal();
		const url = new URL(route.startsWith('/') ? `${local.url}${route}` : `${local.apiUrl}${route}`);
		for (const [key, value] of Object.entries(options.query ?? {})) url.searchParams.set(key, value);
		const headers: Record<string, string> = {};
		const token = options.token === undefined ? DEMO.accessToken : options.token;
		if (token !== null) headers['Access-Token'] = token;
		let body: string | URLSearchParams | undefined;
		if (options.form) body = new URLSearchParams(options.form);
		else if (options.body !== undefined) {
			body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
			headers['content-type'] = 'application/json';
		}
		const method = options.method ?? (body === undefined ? 'GET' : 'POST');
		const response = await fetch(url, { method, headers, body });
		const text = await response.text();
		return { status: response.status, body: JSON.parse(text) as Envelope, headers: response.headers };
	};
}

describe('local TikTok Marketing API', () => {
	let local: TikTokLocal;
	const call = makeClient(() => local);

	beforeAll(async () => {
		// A high limit here; the rate-limit tests use their own server with TikTok's 50/s.
		local = await startTikTokLocal({ rateLimitPerSecond: 100_000 });
	});
	afterAll(async () => {
		await local.close();
	});
	beforeEach(() => local.reset());

	async function createAudience(name = 'n8n: test', advertiserId = US, token: string | null = DEMO.accessToken): Promise<string> {
		const { body } = await call('segment/audience/', { token, body: { advertiser_id: advertiserId, action: 'create', custom_audience_name: name } });
		expect(body.code).toBe(0);
		return body.data.audience_id as string;
	}

	function mapping(audienceId: string, hashes: string[], action: 'add' | 'delete' = 'add', advertiserIds = [US]) {
		return {
			advertiser_ids: advertiserIds,
			action,
			id_schema: ['EMAIL_SHA256'],
			batch_data: hashes.map((hash) => [{ id: hash, audience_ids: [audienceId] }]),
		};
	}

	describe('envelope and access token', () => {
		it('answers user/info with the envelope for the demo token', async () => {
			const { status, body } = await call('user/info/');
			expect(status).toBe(200);
			expect(body).toMatchObject({ code: 0, message: 'OK', data: { display_name: DEMO.user.displayName, email: DEMO.user.email } });
			expect(body.request_id).toMatch(/^\d{14}[0-9A-F]+$/);
			expect(Object.keys(body.data).sort()).toEqual(['avatar_url', 'core_user_id', 'create_time', 'display_name', 'email']);
		});

		it('refuses a wrong token with 40105 and a missing one with 40104, over HTTP 200', async () => {
			const wrong = await call('user/info/', { token: 'not-a-token' });
			expect(wrong.status).toBe(200);
			expect(wrong.body.code).toBe(40105);
			expect(wrong.body.message).toBe('Access token is incorrect or has been revoked.');
			const missing = await call('user/info/', { token: null });
			expect(missing.body.code).toBe(40104);
		});

		it('can answer bad tokens with HTTP 403 instead', async () => {
			local.setConfig({ invalidTokenHttpStatus: 403 });
			const { status, body } = await call('user/info/', { token: 'nope' });
			expect(status).toBe(403);
			expect(body.code).toBe(40105);
		});

		it('accepts routes without the trailing slash and 404s unknown ones', async () => {
			expect((await call('user/info')).body.code).toBe(0);
			const unknown = await call('no/such/route/');
			expect(unknown.status).toBe(404);
			expect(unknown.body.code).toBe(40400);
			const wrongMethod = await call('segment/mapping/', { method: 'GET' });
			expect(wrongMethod.status).toBe(405);
		});

		it('answers malformed JSON with 40000', async () => {
			const { status, body } = await call('segment/audience/', { body: '{"advertiser_id": ' });
			expect(status).toBe(200);
			expect(body.code).toBe(40000);
			expect(body.message).toMatch(/invalid JSON/i);
		});
	});

	describe('OAuth', () => {
		async function authorize(extra: Record<string, string> = {}): Promise<URL> {
			const url = new URL(local.authUrl);
			url.searchParams.set('app_id', DEMO.appId);
			url.searchParams.set('redirect_uri', 'http://127.0.0.1:5678/rest/oauth2-credential/callback');
			url.searchParams.set('state', 'abc123');
			for (const [key, value] of Object.entries(extra)) url.searchParams.set(key, value);
			const response = await fetch(url, { redirect: 'manual' });
			expect(response.status).toBe(302);
			return new URL(response.headers.get('location') as string);
		}

		it('redirects from the portal with auth_code, code and state, ignoring n8n extras', async () => {
			const location = await authorize({ client_id: DEMO.appId, response_type: 'code', scope: '' });
			expect(location.origin + location.pathname).toBe('http://127.0.0.1:5678/rest/oauth2-credential/callback');
			expect(location.searchParams.get('auth_code')).toMatch(/^[0-9a-f]{32}$/);
			expect(location.searchParams.get('code')).toBe(location.searchParams.get('auth_code'));
			expect(location.searchParams.get('state')).toBe('abc123');
		});

		it('refuses an unknown app or a missing redirect_uri, and shows a page when interactive', async () => {
			expect((await fetch(`${local.authUrl}?app_id=123&redirect_uri=http://x/`, { redirect: 'manual' })).status).toBe(400);
			expect((await fetch(`${local.authUrl}?app_id=${DEMO.appId}`, { redirect: 'manual' })).status).toBe(400);
			const page = await fetch(`${local.authUrl}?app_id=${DEMO.appId}&redirect_uri=http://x/cb&state=s&interactive=1`);
			expect(page.status).toBe(200);
			const html = await page.text();
			expect(html).toContain('Authorize');
			expect(html).not.toContain('interactive=1');
		});

		it('shows a browser (Accept: text/html) the consent page with the ad accounts; its Authorize link redirects', async () => {
			const redirectUri = 'http://127.0.0.1:5678/rest/oauth2-credential/callback';
			const url = `${local.authUrl}?app_id=${DEMO.appId}&client_id=${DEMO.appId}&redirect_uri=${encodeURIComponent(redirectUri)}&state=s1&scope=`;
			const browserAccept = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
			const page = await fetch(url, { headers: browserAccept, redirect: 'manual' });
			expect(page.status).toBe(200);
			const html = await page.text();
			for (const advertiser of DEMO.advertisers) expect(html).toContain(advertiser.name);
			const href = /<a id="authorize" href="([^"]+)"/.exec(html)?.[1].replace(/&#38;/g, '&');
			expect(href).toContain('approve=1');
			const approved = await fetch(new URL(href as string, local.url), { headers: browserAccept, redirect: 'manual' });
			expect(approved.status).toBe(302);
			const location = new URL(approved.headers.get('location') as string);
			expect(location.origin + location.pathname).toBe(redirectUri);
			expect(location.searchParams.get('state')).toBe('s1');
			expect(location.searchParams.get('code')).toMatch(/^[0-9a-f]{32}$/);
			// interactive=0 approves a browser at once
			expect((await fetch(`${url}&interactive=0`, { headers: browserAccept, redirect: 'manual' })).status).toBe(302);
		});

		it('exchanges a form-encoded code on oauth/token/ for a flat answer, once', async () => {
			const code = (await authorize()).searchParams.get('code') as string;
			const form = { client_id: DEMO.appId, client_secret: DEMO.secret, code, grant_type: 'authorization_code', redirect_uri: 'http://x/cb' };
			const { body } = await call('oauth/token/', { token: null, form });
			expect(body).toMatchObject({ code: 0, message: 'OK', token_type: 'Bearer', advertiser_ids: [US, EU], scope: [4, 5] });
			expect(typeof body.access_token).toBe('string');
			expect(body.data).toBeUndefined();
			// The new token works; the code does not work twice.
			expect((await call('user/info/', { token: body.access_token as string })).body.code).toBe(0);
			expect((await call('oauth/token/', { token: null, form })).body.code).toBe(40110);
		});

		it('answers oauth/token/ wrapped under data when configured, with a JSON body', async () => {
			local.setConfig({ tokenResponseShape: 'wrapped' });
			const code = local.issueAuthCode(DEMO.appId);
			const { body } = await call('oauth/token/', {
				token: null,
				body: { client_id: DEMO.appId, client_secret: DEMO.secret, code, grant_type: 'authorization_code' },
			});
			expect(body.code).toBe(0);
			expect(body.access_token).toBeUndefined();
			expect(body.data).toMatchObject({ advertiser_ids: [US, EU], scope: [4, 5] });
			expect(typeof body.data.access_token).toBe('string');
		});

		it('refuses a wrong secret with 40101 and an unknown code with 40110', async () => {
			const code = local.issueAuthCode(DEMO.appId);
			const wrongSecret = await call('oauth/token/', { token: null, form: { client_id: DEMO.appId, client_secret: 'x', code } });
			expect(wrongSecret.body.code).toBe(40101);
			const badCode = await call('oauth/token/', { token: null, form: { client_id: DEMO.appId, client_secret: DEMO.secret, code: 'nope' } });
			expect(badCode.body.code).toBe(40110);
			// A code issued to another app is no good either.
			const otherCode = local.issueAuthCode(OTHER.appId);
			const crossApp = await call('oauth/token/', { token: null, form: { client_id: DEMO.appId, client_secret: DEMO.secret, code: otherCode } });
			expect(crossApp.body.code).toBe(40110);
		});

		it('exchanges on oauth2/access_token/ (always wrapped) and revokes on oauth2/revoke_token/', async () => {
			const code = local.issueAuthCode(DEMO.appId);
			const { body } = await call('oauth2/access_token/', { token: null, body: { app_id: DEMO.appId, secret: DEMO.secret, auth_code: code } });
			expect(body.code).toBe(0);
			const token = body.data.access_token as string;
			expect(body.data.advertiser_ids).toEqual([US, EU]);
			const revoked = await call('oauth2/revoke_token/', { token, body: { app_id: DEMO.appId, secret: DEMO.secret, access_token: token } });
			expect(revoked.body).toMatchObject({ code: 0, data: { app_id: DEMO.appId, advertiser_ids: [US, EU] } });
			expect((await call('user/info/', { token })).body.code).toBe(40105);
			// The seeded token is untouched.
			expect((await call('user/info/')).body.code).toBe(0);
		});
	});

	describe('advertisers', () => {
		it("lists the token's advertisers when app_id and secret match its app", async () => {
			const { body } = await call('oauth2/advertiser/get/', { query: { app_id: DEMO.appId, secret: DEMO.secret } });
			expect(body.code).toBe(0);
			expect(body.data.list).toEqual([
				{ advertiser_id: US, advertiser_name: 'Demo Store US' },
				{ advertiser_id: EU, advertiser_name: 'Demo Store EU' },
			]);
			const otherApp = await call('oauth2/advertiser/get/', { query: { app_id: OTHER.appId, secret: OTHER.secret } });
			expect(otherApp.body.code).toBe(40001);
			const wrongSecret = await call('oauth2/advertiser/get/', { query: { app_id: DEMO.appId, secret: 'x' } });
			expect(wrongSecret.body.code).toBe(40101);
		});

		it('describes reachable advertisers on advertiser/info/ and refuses others', async () => {
			const { body } = await call('advertiser/info/', { query: { advertiser_ids: JSON.stringify([EU]) } });
			expect(body.code).toBe(0);
			expect(body.data.list?.[0]).toMatchObject({ advertiser_id: EU, name: 'Demo Store EU', currency: 'EUR' });
			const notMine = await call('advertiser/info/', { query: { advertiser_ids: JSON.stringify([OTHER_ADVERTISER]) } });
			expect(notMine.body.code).toBe(40001);
		});
	});

	describe('segment/audience/', () => {
		it('creates audiences with unique string IDs, allows duplicate names and truncates long names', async () => {
			const first = await createAudience('Same name');
			const second = await createAudience('Same name');
			expect(first).toMatch(/^\d+$/);
			expect(second).not.toBe(first);
			const longName = 'x'.repeat(71);
			const longId = await createAudience(longName);
			expect(local.store.audiences.get(longId)?.name).toBe(`${'x'.repeat(67)}...`);
			const exactly70 = await createAudience('y'.repeat(70));
			expect(local.store.audiences.get(exactly70)?.name).toBe('y'.repeat(70));
		});

		it('refuses advertisers the token cannot reach and missing names', async () => {
			const notMine = await call('segment/audience/', { body: { advertiser_id: OTHER_ADVERTISER, action: 'create', custom_audience_name: 'x' } });
			expect(notMine.body.code).toBe(40001);
			const noName = await call('segment/audience/', { body: { advertiser_id: US, action: 'create' } });
			expect(noName.body.code).toBe(40002);
			expect(local.stats().audiences).toHaveLength(0);
		});

		it('caps live audiences at 400 per advertiser', async () => {
			for (let i = 0; i < 398; i++) local.store.createAudience(US, `pre ${i}`);
			await createAudience('number 399');
			await createAudience('number 400');
			const refused = await call('segment/audience/', { body: { advertiser_id: US, action: 'create', custom_audience_name: 'one too many' } });
			expect(refused.body.code).toBe(40002);
			expect(refused.body.message).toMatch(/400/);
			// The other advertiser has its own budget, and deleting frees a slot.
			await createAudience('EU is fine', EU);
			const someId = local.stats().audiences[0].id;
			const deleted = await call('segment/audience/', { body: { advertiser_id: US, action: 'delete', delete_audience_id: someId } });
			expect(deleted.body.code).toBe(0);
			await createAudience('fits again');
		});

		it("refuses to delete another advertiser's audience", async () => {
			const id = await createAudience('EU audience', EU);
			const { body } = await call('segment/audience/', { body: { advertiser_id: US, action: 'delete', delete_audience_id: id } });
			expect(body.code).toBe(40002);
			expect(local.store.audiences.get(id)?.deleted).toBe(false);
		});
	});

	describe('segment/mapping/', () => {
		it('adds and deletes members, idempotently, lowercasing hashes and accepting lowercase types', async () => {
			const audienceId = await createAudience();
			const hashes = [emailHash(1), emailHash(2), emailHash(3)];
			const added = await call('segment/mapping/', { body: mapping(audienceId, hashes) });
			expect(added.body).toMatchObject({ code: 0, message: 'OK', data: {} });
			await call('segment/mapping/', { body: mapping(audienceId, [hashes[0].toUpperCase()]) });
			expect(local.members(audienceId).sort()).toEqual(hashes.map((hash) => `EMAIL_SHA256:${hash}`).sort());

			const removed = await call('segment/mapping/', { body: { ...mapping(audienceId, [hashes[1]], 'delete'), id_schema: ['email_sha256'] } });
			expect(removed.body.code).toBe(0);
			expect(local.memberCount(audienceId)).toBe(2);
			expect(local.members(audienceId)).not.toContain(`EMAIL_SHA256:${hashes[1]}`);
			expect(local.stats()).toMatchObject({ mappingRequests: 3, usersReceived: 5, usersAdded: 4, usersDeleted: 1 });
		});

		it('maps several id types and several audiences per slot, with {} for missing identifiers', async () => {
			const a = await createAudience('A');
			const b = await createAudience('B', EU);
			const body = {
				advertiser_ids: [US, EU],
				action: 'add',
				id_schema: ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_MD5'],
				batch_data: [
					[{ id: emailHash(1), audience_ids: [a, b] }, { id: sha256('+15550001'), audience_ids: [a] }, {}],
					[{}, {}, { id: md5('idfa-1'), audience_ids: [b] }],
				],
			};
			expect((await call('segment/mapping/', { body })).body.code).toBe(0);
			expect(local.members(a).sort()).toEqual([`EMAIL_SHA256:${emailHash(1)}`, `PHONE_SHA256:${sha256('+15550001')}`]);
			expect(local.members(b).sort()).toEqual([`EMAIL_SHA256:${emailHash(1)}`, `IDFA_MD5:${md5('idfa-1')}`]);
		});

		it('refuses every malformed batch as a whole, leaving state unchanged', async () => {
			const audienceId = await createAudience();
			const euAudience = await createAudience('EU', EU);
			const deletedAudience = await createAudience('gone');
			local.deleteAudience(deletedAudience);
			const good = [{ id: emailHash(1), audience_ids: [audienceId] }];
			expect((await call('segment/mapping/', { body: mapping(audienceId, [emailHash(0)]) })).body.code).toBe(0);
			const before = local.stats();

			const base = mapping(audienceId, [emailHash(1)]);
			const cases: Array<[string, Record<string, unknown>, number]> = [
				['row length mismatch', { ...base, batch_data: [good, [...good, {}]] }, 40002],
				['non-hex hash', { ...base, batch_data: [good, [{ id: 'z'.repeat(64), audience_ids: [audienceId] }]] }, 40002],
				['short hash', { ...base, batch_data: [good, [{ id: emailHash(2).slice(1), audience_ids: [audienceId] }]] }, 40002],
				['sha256 where md5 is expected', { ...base, id_schema: ['IDFA_MD5'] }, 40002],
				['more than 10,000 rows', { ...base, batch_data: Array.from({ length: 10_001 }, () => good) }, 40002],
				['unknown audience', { ...base, batch_data: [good, [{ id: emailHash(2), audience_ids: ['1234'] }]] }, 40002],
				['deleted audience', { ...base, batch_data: [good, [{ id: emailHash(2), audience_ids: [deletedAudience] }]] }, 40002],
				['audience of an advertiser not listed', { ...base, batch_data: [good, [{ id: emailHash(2), audience_ids: [euAudience] }]] }, 40002],
				['duplicate id_schema', { ...base, id_schema: ['EMAIL_SHA256', 'email_sha256'], batch_data: [[good[0], {}]] }, 40002],
				['unknown id type', { ...base, id_schema: ['EMAIL_MD5'] }, 40002],
				['empty id_schema', { ...base, id_schema: [] }, 40002],
				['empty batch_data', { ...base, batch_data: [] }, 40002],
				['row without identifiers', { ...base, batch_data: [good, [{}]] }, 40002],
				['slot without audience_ids', { ...base, batch_data: [good, [{ id: emailHash(2) }]] }, 40002],
				['unknown action', { ...base, action: 'replace' }, 40002],
				['unreachable advertiser', { ...base, advertiser_ids: [OTHER_ADVERTISER] }, 40001],
			];
			for (const [name, body, expectedCode] of cases) {
				const response = await call('segment/mapping/', { body });
				expect({ name, code: response.body.code }).toEqual({ name, code: expectedCode });
			}
			expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${emailHash(0)}`]);
			const after = local.stats();
			expect(after.audiences).toEqual(before.audiences);
			expect(after.mappingRequests).toBe(1);
			expect(after.mappingRequestsRefused).toBe(cases.length);
			expect(after.usersReceived).toBe(1);
		});

		it('refuses an audience the other app owns, even when the token names its own advertiser', async () => {
			const foreign = await createAudience('theirs', OTHER_ADVERTISER, OTHER.accessToken);
			const { body } = await call('segment/mapping/', { body: mapping(foreign, [emailHash(1)]) });
			expect(body.code).toBe(40002);
			expect(body.message).toMatch(/invalid audience ID/);
			expect(local.memberCount(foreign)).toBe(0);
		});

		it('accepts exactly 10,000 rows', async () => {
			const audienceId = await createAudience();
			const hashes = Array.from({ length: 10_000 }, (_, i) => emailHash(i));
			expect((await call('segment/mapping/', { body: mapping(audienceId, hashes) })).body.code).toBe(0);
			expect(local.memberCount(audienceId)).toBe(10_000);
		});

		it('in bench mode skips the hex check and keeps counts only', async () => {
			local.setConfig({ benchMode: true });
			const audienceId = await createAudience();
			const { body } = await call('segment/mapping/', { body: mapping(audienceId, ['z'.repeat(64), 'y'.repeat(64)]) });
			expect(body.code).toBe(0);
			expect(local.memberCount(audienceId)).toBe(2);
			expect(local.members(audienceId)).toEqual([]);
			// Structure is still checked.
			expect((await call('segment/mapping/', { body: mapping(audienceId, ['z'.repeat(63)]) })).body.code).toBe(40002);
		});
	});

	describe('dmp/custom_audience', () => {
		it('pages the list newest first and validates page_size', async () => {
			for (let i = 1; i <= 25; i++) local.store.createAudience(US, `audience ${i}`);
			local.store.createAudience(EU, 'not in this list');
			const page3 = await call('dmp/custom_audience/list/', { query: { advertiser_id: US, page: '3', page_size: '10' } });
			expect(page3.body.code).toBe(0);
			expect(page3.body.data.page_info).toEqual({ page: 3, page_size: 10, total_number: 25, total_page: 3 });
			expect(page3.body.data.list?.map((audience) => audience.name)).toEqual(['audience 5', 'audience 4', 'audience 3', 'audience 2', 'audience 1']);
			expect(page3.body.data.list?.[0]).toMatchObject({ audience_type: 'Partner', calculate_type: null, cover_num: 0, shared: false, is_creator: true });
			expect(page3.body.data.list?.[0].create_time).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
			const defaults = await call('dmp/custom_audience/list/', { query: { advertiser_id: US } });
			expect(defaults.body.data.page_info).toMatchObject({ page: 1, page_size: 10 });
			expect((await call('dmp/custom_audience/list/', { query: { advertiser_id: US, page_size: '101' } })).body.code).toBe(40002);
			expect((await call('dmp/custom_audience/list/', { query: { advertiser_id: OTHER_ADVERTISER } })).body.code).toBe(40001);
		});

		it('reports cover_num only from 1,000 users on', async () => {
			const audienceId = await createAudience();
			const listCoverNum = async (): Promise<unknown> =>
				(await call('dmp/custom_audience/list/', { query: { advertiser_id: US } })).body.data.list?.[0].cover_num;
			await call('segment/mapping/', { body: mapping(audienceId, Array.from({ length: 999 }, (_, i) => emailHash(i))) });
			expect(await listCoverNum()).toBe(0);
			await call('segment/mapping/', { body: mapping(audienceId, [emailHash(999), emailHash(1000)]) });
			expect(await listCoverNum()).toBe(1001);
		});

		it('gets audiences by JSON array or repeated keys and refuses unknown or deleted ones', async () => {
			const a = await createAudience('A');
			const b = await createAudience('B');
			const asJson = await call('dmp/custom_audience/get/', { query: { advertiser_id: US, custom_audience_ids: JSON.stringify([a, b]) } });
			expect(asJson.body.code).toBe(0);
			expect(asJson.body.data.list?.map((item) => (item.audience_details as { audience_id: string }).audience_id)).toEqual([a, b]);
			expect(asJson.body.data.list?.[0]).toMatchObject({ audience_details: { name: 'A', type: 'Partner', cover_num: 0 }, audience_history: [] });
			// Repeated keys, no trailing slash (as Segment calls it).
			const repeated = await fetch(`${local.apiUrl}dmp/custom_audience/get?advertiser_id=${US}&custom_audience_ids=${a}&custom_audience_ids=${b}`, {
				headers: { 'Access-Token': DEMO.accessToken },
			});
			expect(((await repeated.json()) as Envelope).data.list).toHaveLength(2);
			expect((await call('dmp/custom_audience/get/', { query: { advertiser_id: US, custom_audience_ids: '["42"]' } })).body.code).toBe(40002);
			local.deleteAudience(b);
			expect((await call('dmp/custom_audience/get/', { query: { advertiser_id: US, custom_audience_ids: `["${b}"]` } })).body.code).toBe(40002);
		});

		it('deletes audiences through dmp/custom_audience/delete/, all or nothing', async () => {
			const a = await createAudience('A');
			const b = await createAudience('B');
			expect((await call('dmp/custom_audience/delete/', { body: { advertiser_id: US, custom_audience_ids: [a, '999'] } })).body.code).toBe(40002);
			expect(local.store.audiences.get(a)?.deleted).toBe(false);
			expect((await call('dmp/custom_audience/delete/', { body: { advertiser_id: US, custom_audience_ids: [a, b] } })).body.code).toBe(0);
			expect(local.stats().audiences.every((audience) => audience.deleted)).toBe(true);
		});
	});

	describe('fault injection', () => {
		it('answers the next N matching requests with an injected code, without touching state', async () => {
			const audienceId = await createAudience();
			local.injectFault({ pathIncludes: 'segment/mapping', count: 2, code: 50000 });
			expect((await call('user/info/')).body.code).toBe(0);
			for (let i = 0; i < 2; i++) {
				const { status, body } = await call('segment/mapping/', { body: mapping(audienceId, [emailHash(1)]) });
				expect(status).toBe(200);
				expect(body.code).toBe(50000);
			}
			expect(local.memberCount(audienceId)).toBe(0);
			expect((await call('segment/mapping/', { body: mapping(audienceId, [emailHash(1)]) })).body.code).toBe(0);
			expect(local.stats().faultsInjected).toBe(2);
		});

		it('injects 40100 with TikTok’s message naming the app', async () => {
			local.injectFault({ code: 40100 });
			const { body } = await call('user/info/');
			expect(body.code).toBe(40100);
			expect(body.message).toBe(`Due to too many requests, requests from App ${DEMO.appId} are temporarily restricted.`);
		});

		it('answers HTML error pages with 429 or 502', async () => {
			local.injectFault({ html: true, httpStatus: 429 });
			local.injectFault({ html: true });
			for (const expected of [429, 502]) {
				const response = await fetch(`${local.apiUrl}user/info/`, { headers: { 'Access-Token': DEMO.accessToken } });
				expect(response.status).toBe(expected);
				expect(response.headers.get('content-type')).toMatch(/text\/html/);
				expect(await response.text()).toMatch(/^<!DOCTYPE html>/);
			}
		});

		it('delays, then answers normally', async () => {
			local.injectFault({ delayMs: 300 });
			const started = Date.now();
			const { body } = await call('user/info/');
			expect(Date.now() - started).toBeGreaterThanOrEqual(290);
			expect(body.code).toBe(0);
		});

		it('resets the connection', async () => {
			const audienceId = await createAudience();
			local.injectFault({ reset: true, pathIncludes: 'segment/mapping' });
			await expect(call('segment/mapping/', { body: mapping(audienceId, [emailHash(1)]) })).rejects.toThrow();
			expect(local.memberCount(audienceId)).toBe(0);
			expect((await call('user/info/')).body.code).toBe(0);
		});

		it('faults every matching request for a time span', async () => {
			local.injectFault({ durationMs: 200, code: 51003 });
			expect((await call('user/info/')).body.code).toBe(51003);
			expect((await call('user/info/')).body.code).toBe(51003);
			await new Promise((resolve) => setTimeout(resolve, 250));
			expect((await call('user/info/')).body.code).toBe(0);
		});
	});

	describe('control routes over HTTP', () => {
		async function control(path: string, method = 'GET', body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
			const response = await fetch(`${local.url}/__local/${path}`, {
				method,
				headers: body === undefined ? {} : { 'content-type': 'application/json' },
				body: body === undefined ? undefined : JSON.stringify(body),
			});
			return { status: response.status, json: (await response.json()) as Record<string, unknown> };
		}

		it('drives faults, tokens, audiences, stats, config and reset', async () => {
			const audienceId = await createAudience();
			await call('segment/mapping/', { body: mapping(audienceId, [emailHash(1), emailHash(2)]) });

			expect((await control(`audiences/${audienceId}/members?count=1`)).json).toEqual({ audienceId, count: 2 });
			expect((await control(`audiences/${audienceId}/members`)).json.members).toHaveLength(2);
			expect((await control('audiences/999/members')).status).toBe(404);

			expect((await control('faults', 'POST', { code: 40105, count: 1 })).status).toBe(200);
			expect((await call('user/info/')).body.code).toBe(40105);
			await control('faults', 'POST', { code: 40105, count: 5 });
			await control('faults', 'DELETE');
			expect((await call('user/info/')).body.code).toBe(0);
			expect((await control('faults', 'POST', { count: 1 })).status).toBe(400);

			expect((await control('tokens/revoke', 'POST', { token: DEMO.accessToken })).json).toEqual({ revoked: true });
			expect((await call('user/info/')).body.code).toBe(40105);
			await control('tokens', 'POST', { token: 'reconnected-token', appId: DEMO.appId });
			expect((await call('user/info/', { token: 'reconnected-token' })).body.code).toBe(0);
			// Audiences survive a reconnect: they belong to the advertiser, not the token.
			expect((await call('segment/mapping/', { token: 'reconnected-token', body: mapping(audienceId, [emailHash(3)]) })).body.code).toBe(0);

			expect((await control(`audiences/${audienceId}/delete`, 'POST')).json).toEqual({ deleted: true });
			expect((await call('segment/mapping/', { token: 'reconnected-token', body: mapping(audienceId, [emailHash(4)]) })).body.code).toBe(40002);

			expect((await control('config', 'POST', { tokenResponseShape: 'wrapped' })).json.tokenResponseShape).toBe('wrapped');
			expect((await control('config', 'POST', { tokenResponseShape: 'round' })).status).toBe(400);

			const stats = (await control('stats')).json;
			expect(stats).toMatchObject({ mappingRequests: 2, usersReceived: 3, rejectedRateLimited: 0 });
			expect((stats.byPath as Record<string, number>)['segment/mapping/']).toBe(3);
			expect(stats.audiences).toEqual([{ id: audienceId, advertiserId: US, name: 'n8n: test', deleted: true, memberCount: 3 }]);

			const code = (await control('auth-codes', 'POST', { appId: DEMO.appId })).json.code as string;
			expect(code).toMatch(/^[0-9a-f]{32}$/);

			await control('reset', 'POST');
			expect(local.stats()).toMatchObject({ requests: 0, audiences: [] });
			expect(local.config.tokenResponseShape).toBe('flat');
			expect((await call('user/info/')).body.code).toBe(0);
		});

		it('keeps a request log when recordRequests is on: arrival time, app, code, mapping ids', async () => {
			const audienceId = await createAudience();
			expect((await control('requests')).json).toEqual({ recording: false, dropped: 0, entries: [] });
			await control('config', 'POST', { recordRequests: true });
			const before = Date.now();
			await call('segment/mapping/', { body: mapping(audienceId, [emailHash(1), emailHash(2)]) });
			await control('faults', 'POST', { code: 40100, count: 1, pathIncludes: 'segment/mapping' });
			await call('segment/mapping/', { body: mapping(audienceId, [emailHash(3)]) });
			await call('user/info/');
			const { entries } = (await control('requests')).json as { entries: Array<Record<string, unknown>> };
			expect(entries.map((e) => [e.path, e.code, e.appId, e.faulted, e.ids])).toEqual([
				['segment/mapping/', 0, DEMO.appId, undefined, [`EMAIL_SHA256:${emailHash(1)}`, `EMAIL_SHA256:${emailHash(2)}`]],
				['segment/mapping/', 40100, DEMO.appId, true, [`EMAIL_SHA256:${emailHash(3)}`]],
				['user/info/', 0, DEMO.appId, undefined, undefined],
			]);
			expect(entries[0].at).toBeGreaterThanOrEqual(before);
			expect(entries[0].answeredAt).toBeGreaterThanOrEqual(entries[0].at as number);
			const since = entries[0].seq as number;
			expect(((await control(`requests?since=${since}&path=segment/mapping/`)).json.entries as unknown[]).length).toBe(1);
			expect(local.requests({ path: 'user/info/' })).toHaveLength(1);
			await control('requests', 'DELETE');
			expect(local.requests()).toEqual([]);
		});
	});
});

describe('rate limit and lifecycle', () => {
	const started: TikTokLocal[] = [];
	afterAll(async () => {
		await Promise.all(started.map((local) => local.close()));
	});
	async function start(options: Parameters<typeof startTikTokLocal>[0] = {}): Promise<TikTokLocal> {
		const local = await startTikTokLocal(options);
		started.push(local);
		return local;
	}

	it('answers 40100 beyond 50 requests per app in a second, and tracks the busiest second', async () => {
		const local = await start();
		const call = makeClient(() => local);
		const responses = await Promise.all(Array.from({ length: 80 }, () => call('user/info/')));
		const codes = responses.map((response) => response.body.code);
		expect(codes.filter((code) => code === 0)).toHaveLength(50);
		expect(codes.filter((code) => code === 40100)).toHaveLength(30);
		const rejected = responses.find((response) => response.body.code === 40100);
		expect(rejected?.status).toBe(200);
		expect(rejected?.body.message).toBe(`Due to too many requests, requests from App ${DEMO.appId} are temporarily restricted.`);

		const stats = local.stats();
		expect(stats.rejectedRateLimited).toBe(30);
		expect(stats.maxRequestsPerSecond).toBe(50);
		expect(stats.maxRequestsPerSecondByApp[DEMO.appId]).toBe(50);
		expect(stats.maxAttemptedPerSecondByApp[DEMO.appId]).toBe(80);
		expect(stats.requests).toBe(80);

		// The other app has its own budget; the overall maximum counts both apps.
		expect((await call('user/info/', { token: OTHER.accessToken })).body.code).toBe(0);
		expect(local.stats().maxRequestsPerSecondByApp[OTHER.appId]).toBe(1);
		expect(local.stats().maxRequestsPerSecond).toBe(51);

		// A second later the window has moved on.
		await new Promise((resolve) => setTimeout(resolve, 1050));
		expect((await call('user/info/')).body.code).toBe(0);
	});

	it('counts a paced client exactly', async () => {
		const local = await start({ rateLimitPerSecond: 5 });
		const call = makeClient(() => local);
		for (let i = 0; i < 5; i++) expect((await call('user/info/')).body.code).toBe(0);
		expect((await call('user/info/')).body.code).toBe(40100);
		const stats = local.stats();
		expect(stats.maxRequestsPerSecond).toBe(5);
		expect(stats.maxAttemptedPerSecond).toBe(6);
		// Control routes are not counted.
		await fetch(`${local.url}/__local/stats`);
		expect(local.stats().requests).toBe(6);
	});

	it('closes promptly with keep-alive connections and pending delays open', async () => {
		const local = await start();
		expect((await fetch(`${local.apiUrl}user/info/`, { headers: { 'Access-Token': DEMO.accessToken } })).status).toBe(200);
		local.injectFault({ delayMs: 60_000 });
		const hanging = fetch(`${local.apiUrl}user/info/`, { headers: { 'Access-Token': DEMO.accessToken } }).catch((error: unknown) => error);
		await new Promise((resolve) => setTimeout(resolve, 50));
		const closing = Date.now();
		await local.close();
		expect(Date.now() - closing).toBeLessThan(1000);
		// fetch fails with a TypeError from another realm than jest's, so check the name rather than instanceof.
		expect((await hanging as { name?: string }).name).toBe('TypeError');
		await expect(fetch(`${local.apiUrl}user/info/`)).rejects.toThrow();
	});

	it('listens on the requested port on 127.0.0.1 only', async () => {
		const probe = await start();
		const port = probe.port;
		await probe.close();
		const local = await start({ port });
		expect(local.url).toBe(`http://127.0.0.1:${port}`);
		expect(local.port).toBe(port);
	});
});
