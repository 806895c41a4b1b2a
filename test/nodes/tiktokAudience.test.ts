import { NodeHelpers, type IDataObject, type INode, type INodeTypeDescription } from 'n8n-workflow';

import { TikTokBusinessApi } from '../../credentials/TikTokBusinessApi.credentials';
import { TikTokBusinessOAuth2Api } from '../../credentials/TikTokBusinessOAuth2Api.credentials';
import { checkTikTokId } from '../../nodes/shared/descriptions';
import { digestHex } from '../../nodes/shared/digest';
import { TikTokAudience } from '../../nodes/TikTokAudience/TikTokAudience.node';
import { TikTokBatchSync } from '../../nodes/TikTokBatchSync/TikTokBatchSync.node';
import { chain, itemsNode, loadOptionsContext, outputOf, runWorkflow, type CredentialFixtures } from '../harness/n8n';
import { DEMO, OTHER, type TikTokLocal } from '../tiktok-local/server';
import { useLocalTikTok } from '../harness/localTikTok';

const TYPE = 'n8n-nodes-tiktok-audience-sync.tikTokAudience';
const US = DEMO.advertisers[0].id;

let local: TikTokLocal;

const id = (value: string) => ({ __rl: true, mode: 'id', value });
const sha = (value: string) => digestHex('sha256', value);

function accessTokenCredentials(overrides: IDataObject = {}): CredentialFixtures {
	return {
		tikTokBusinessApi: {
			accessToken: DEMO.accessToken,
			appId: DEMO.appId,
			secret: DEMO.secret,
			environment: 'custom',
			baseUrl: local.url,
			...overrides,
		},
	};
}

function audienceNode(parameters: IDataObject, name = 'TikTok Audience'): INode {
	return {
		id: 'tiktok',
		name,
		type: TYPE,
		typeVersion: 1,
		position: [200, 0],
		parameters: { authentication: 'accessToken', ...parameters } as INode['parameters'],
		credentials: { tikTokBusinessApi: { id: '1', name: 'TikTok' }, tikTokBusinessOAuth2Api: { id: '2', name: 'TikTok OAuth' } },
	};
}

async function runNode(parameters: IDataObject, items: IDataObject[] = [{}], credentials = accessTokenCredentials(), extra: Partial<INode> = {}) {
	const tiktok = { ...audienceNode(parameters), ...extra };
	const { run } = await runWorkflow({
		nodes: [itemsNode(items), tiktok],
		connections: chain('Items', tiktok.name),
		credentials,
	});
	return run;
}

function outputJson(run: Awaited<ReturnType<typeof runNode>>, name = 'TikTok Audience'): IDataObject[] {
	if (run.data.resultData.error) throw new Error(`run failed: ${run.data.resultData.error.message}`);
	return outputOf(run, name).map((item) => item.json);
}

/** User Add/Remove: each output item is its input item with the result under `tiktokSync`. */
function syncResults(run: Awaited<ReturnType<typeof runNode>>): IDataObject[] {
	return outputJson(run).map((json) => json.tiktokSync as IDataObject);
}

useLocalTikTok((started) => (local = started));

describe('Audience resource', () => {
	it('create reuses the audience of the same name: 20 concurrent runs make one audience', async () => {
		const parameters = { resource: 'audience', operation: 'create', advertiserId: id(US), name: 'n8n: VIP buyers' };
		const runs = await Promise.all(Array.from({ length: 20 }, () => runNode(parameters)));
		const ids = new Set(runs.map((run) => outputJson(run)[0].audienceId));
		expect(ids.size).toBe(1);
		const audiences = local.stats().audiences.filter((a) => a.name === 'n8n: VIP buyers' && !a.deleted);
		expect(audiences).toHaveLength(1);
		expect(runs.filter((run) => outputJson(run)[0].created === true)).toHaveLength(1);
	});

	it('create can be told to make a new audience even when the name exists', async () => {
		const parameters = { resource: 'audience', operation: 'create', advertiserId: id(US), name: 'dupe' };
		await runNode(parameters);
		const second = outputJson(await runNode({ ...parameters, options: { reuseExisting: false } }))[0];
		expect(second.created).toBe(true);
		expect(local.stats().audiences.filter((a) => a.name === 'dupe')).toHaveLength(2);
	});

	it('names over 70 characters are cut as TikTok does, and found again by their full name', async () => {
		const long = 'n8n: ' + 'x'.repeat(90);
		const parameters = { resource: 'audience', operation: 'create', advertiserId: id(US), name: long };
		const first = outputJson(await runNode(parameters))[0];
		const again = outputJson(await runNode(parameters))[0];
		expect(first.name).toBe(long.slice(0, 67) + '...');
		expect(again).toMatchObject({ audienceId: first.audienceId, created: false });
	});

	it('an audience deleted in TikTok is not reused by name: the next create makes a new one', async () => {
		const parameters = { resource: 'audience', operation: 'create', advertiserId: id(US), name: 'recreated' };
		const first = outputJson(await runNode(parameters))[0];
		local.deleteAudience(String(first.audienceId));
		const second = outputJson(await runNode(parameters))[0];
		expect(second.created).toBe(true);
		expect(second.audienceId).not.toBe(first.audienceId);
	});

	it('get reports size, validity and expiry, and hints that small audiences show no size', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'sized' }))[0];
		const run = await runNode({ resource: 'audience', operation: 'get', advertiserId: id(US), audienceId: id(String(created.audienceId)) });
		expect(outputJson(run)[0]).toMatchObject({ audienceId: created.audienceId, name: 'sized', size: 0, sizeShown: false, isValid: true });
		const hints = run.data.resultData.runData['TikTok Audience'][0].hints ?? [];
		expect(hints.map((h) => h.message).join(' ')).toMatch(/1,000 matched users/);
	});

	it('get on an audience TikTok returns nothing for says so, quoting no code TikTok never sent', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'vanishing' }))[0];
		const audienceId = String(created.audienceId);
		// TikTok's answer for an audience it no longer has: code 0, an empty list.
		local.injectFault({ pathIncludes: 'dmp/custom_audience/get', code: 0, message: 'OK', data: { list: [] } });
		const run = await runNode({ resource: 'audience', operation: 'get', advertiserId: id(US), audienceId: id(audienceId) });
		const error = run.data.resultData.error;
		expect(error).toMatchObject({ name: 'NodeOperationError', message: `TikTok returned no audience with ID ${audienceId} in ad account ${US}` });
		expect(error?.description).toMatch(/empty list.*deleted.*Get Many/);
		expect(`${error?.message} ${error?.description}`).not.toMatch(/4000\d|TikTok code/);

		// With Continue On Fail the item carries the same message, and the next item is answered.
		local.injectFault({ pathIncludes: 'dmp/custom_audience/get', code: 0, message: 'OK', data: { list: [] } });
		const cont = await runNode(
			{ resource: 'audience', operation: 'get', advertiserId: id(US), audienceId: id(audienceId) },
			[{}, {}],
			accessTokenCredentials(),
			{ onError: 'continueRegularOutput' },
		);
		const out = outputJson(cont);
		expect(out[0]).toMatchObject({ error: `TikTok returned no audience with ID ${audienceId} in ad account ${US}` });
		expect(out[1]).toMatchObject({ audienceId, name: 'vanishing' });
	});

	it('get on an audience TikTok refuses with an error code quotes what TikTok said', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'deleted' }))[0];
		local.deleteAudience(String(created.audienceId));
		// The local API answers this one with 40002 "Parameter error: invalid audience ID …".
		const run = await runNode({ resource: 'audience', operation: 'get', advertiserId: id(US), audienceId: id(String(created.audienceId)) });
		expect(run.data.resultData.error).toMatchObject({ name: 'NodeApiError' });
		expect(run.data.resultData.error?.message).toMatch(/40002/);
		expect(run.data.resultData.error?.message).toMatch(/invalid audience ID/);
	});

	it('get many searches by name', async () => {
		for (const name of ['Buyers US', 'Churned', 'buyers EU']) {
			await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name });
		}
		const found = outputJson(
			await runNode({ resource: 'audience', operation: 'getMany', advertiserId: id(US), returnAll: true, filters: { nameContains: 'BUYERS' } }),
		);
		expect(found.map((a) => a.name).sort()).toEqual(['Buyers US', 'buyers EU']);
		const limited = outputJson(await runNode({ resource: 'audience', operation: 'getMany', advertiserId: id(US), returnAll: false, limit: 2 }));
		expect(limited).toHaveLength(2);
	});

	it('delete removes the audience in TikTok', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'temp' }))[0];
		const deleted = outputJson(
			await runNode({ resource: 'audience', operation: 'delete', advertiserId: id(US), audienceId: id(String(created.audienceId)) }),
		)[0];
		expect(deleted).toEqual({ advertiserId: US, audienceId: created.audienceId, deleted: true });
		expect(local.stats().audiences.find((a) => a.id === created.audienceId)?.deleted ?? true).toBe(true);
	});
});

describe('User resource', () => {
	const users = [
		{ email: 'Jane.Doe@example.com', phone: '+1 415 555 0123' },
		{ email: 'john@example.com', phone: '' },
		{ email: 'not-an-email', phone: null },
		{ email: '', phone: '' },
		{ email: 'JANEDOE@example.com', phone: '+14155550123' },
	];

	it('adds users with per-item statuses and reasons, then removes them', async () => {
		const run = await runNode(
			{
				resource: 'user',
				operation: 'add',
				advertiserId: id(US),
				audienceSelection: 'byName',
				audienceName: 'n8n: sign-ups',
				matchFields: ['email', 'phone'],
				emailValue: '={{ $json.email }}',
				phoneValue: '={{ $json.phone }}',
			},
			users,
		);
		const add = syncResults(run);
		expect(add.map((r) => r.status)).toEqual(['synced', 'synced', 'not_synced', 'not_synced', 'synced']);
		// the input item goes on, with the result under one key (as the Batch Sync node's Users output)
		expect(outputJson(run)[2]).toEqual({ ...users[2], tiktokSync: add[2] });
		expect(add[2].reason).toBe('email is not a valid address');
		expect(add[3].reason).toBe('no identifier to match (email, phone all empty)');
		expect(add[0].matchedFields).toEqual(['email', 'phone']);
		const audienceId = String(add[0].audienceId);
		// Jane appears twice (same email after normalisation, same phone): sent once.
		expect(local.members(audienceId).sort()).toEqual(
			[`EMAIL_SHA256:${sha('janedoe@example.com')}`, `PHONE_SHA256:${sha('+14155550123')}`, `EMAIL_SHA256:${sha('john@example.com')}`].sort(),
		);
		expect(local.stats().byPath['segment/mapping/']).toBe(1);

		const removed = syncResults(
			await runNode(
				{
					resource: 'user',
					operation: 'remove',
					advertiserId: id(US),
					audienceSelection: 'existing',
					audienceId: id(audienceId),
					matchFields: ['email'],
					emailValue: '={{ $json.email }}',
				},
				[{ email: 'john@example.com' }],
			),
		);
		expect(removed[0]).toMatchObject({ status: 'synced', action: 'remove', audienceId });
		expect(local.members(audienceId)).not.toContain(`EMAIL_SHA256:${sha('john@example.com')}`);
		expect(local.members(audienceId)).toContain(`EMAIL_SHA256:${sha('janedoe@example.com')}`);
	});

	it('Add or Remove per Item: opt-ins are added, opt-outs removed, and a user’s last item wins', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'consent' }))[0];
		const audienceId = String(created.audienceId);
		const target = { advertiserId: id(US), audienceSelection: 'existing', audienceId: id(audienceId), matchFields: ['email'] };
		await runNode({ resource: 'user', operation: 'add', ...target }, [{ email: 'leaving@example.com' }, { email: 'flipper@example.com' }]);
		const requestsBefore = local.stats().byPath['segment/mapping/'];

		const items = [
			{ email: 'flipper@example.com', optedOut: false },
			{ email: 'leaving@example.com', optedOut: true },
			{ email: 'joining@example.com', optedOut: false },
			{ email: 'flipper@example.com', optedOut: true },
			{ email: 'nobody', optedOut: false },
		];
		const results = syncResults(await runNode({ resource: 'user', operation: 'addOrRemove', ...target }, items));
		expect(results.map((r) => [r.status, r.action])).toEqual([
			['synced', 'remove'],
			['synced', 'remove'],
			['synced', 'add'],
			['synced', 'remove'],
			['not_synced', 'add'],
		]);
		expect(local.members(audienceId)).toEqual([`EMAIL_SHA256:${sha('joining@example.com')}`]);
		// One removal (flipper, leaving) and one add (joining).
		expect(local.stats().byPath['segment/mapping/'] - requestsBefore).toBe(2);
	});

	it('sends a mixed batch of 25,000 users as three requests', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'big' }))[0];
		const items = Array.from({ length: 25_000 }, (_, i) =>
			i % 3 === 0
				? { email: `user${i}@example.com` }
				: i % 3 === 1
					? { phone: `+1415${2_000_000 + i}` } // exchanges 200-202: valid North American numbers
					: { idfa: `6d92078a-8246-4ba4-ae5b-${String(i).padStart(12, '0')}`, email: `u${i}@example.org` },
		);
		const before = local.stats().byPath['segment/mapping/'] ?? 0;
		const out = syncResults(
			await runNode(
				{
					resource: 'user',
					operation: 'add',
					advertiserId: id(US),
					audienceSelection: 'existing',
					audienceId: id(String(created.audienceId)),
					matchFields: ['email', 'phone', 'idfa'],
				},
				items,
			),
		);
		expect(out).toHaveLength(25_000);
		expect(out.every((r) => r.status === 'synced')).toBe(true);
		expect((local.stats().byPath['segment/mapping/'] ?? 0) - before).toBe(3);
		expect(local.memberCount(String(created.audienceId))).toBe(25_000 + Math.floor(25_000 / 3));
	}, 120_000);

	it('dry run hashes and counts but sends nothing', async () => {
		const out = syncResults(
			await runNode(
				{ resource: 'user', operation: 'add', advertiserId: id(US), audienceSelection: 'byName', audienceName: 'never', matchFields: ['email'], options: { dryRun: true } },
				users,
			),
		);
		expect(out.map((r) => r.status)).toEqual(['dry_run', 'dry_run', 'not_synced', 'not_synced', 'dry_run']);
		expect(local.stats().byPath['segment/mapping/'] ?? 0).toBe(0);
		expect(local.stats().audiences).toHaveLength(0);
	});

	it('an audience deleted in TikTok fails with a message that says so', async () => {
		const created = outputJson(await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name: 'doomed' }))[0];
		local.deleteAudience(String(created.audienceId));
		const run = await runNode(
			{ resource: 'user', operation: 'add', advertiserId: id(US), audienceSelection: 'existing', audienceId: id(String(created.audienceId)), matchFields: ['email'] },
			[{ email: 'a@example.com' }],
		);
		expect(run.data.resultData.error).toMatchObject({ name: 'NodeApiError' });
		expect(run.data.resultData.error?.message).toMatch(/may have been deleted in TikTok/);
	});

	it('with Continue On Fail, a failed request marks its users as errors and the run goes on', async () => {
		const run = await runNode(
			{ resource: 'user', operation: 'add', advertiserId: id(US), audienceSelection: 'existing', audienceId: id('1799999999999999'), matchFields: ['email'] },
			[{ email: 'a@example.com' }, { email: 'bad' }],
			accessTokenCredentials(),
			{ onError: 'continueRegularOutput' },
		);
		const out = syncResults(run);
		expect(out[0]).toMatchObject({ status: 'error' });
		expect(String(out[0].error)).toMatch(/may have been deleted/);
		expect(out[1]).toMatchObject({ status: 'not_synced' });
		expect(outputOf(run, 'TikTok Audience').map((item) => item.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
	});
});

describe('credentials', () => {
	const createAudience = { resource: 'audience', operation: 'create', advertiserId: id(US), name: 'via oauth' };

	function oauthCredentials(oauthTokenData: IDataObject): CredentialFixtures {
		return {
			tikTokBusinessOAuth2Api: { clientId: DEMO.appId, clientSecret: DEMO.secret, environment: 'custom', baseUrl: local.url, oauthTokenData },
		};
	}

	it.each([
		['flat', { code: 0, message: 'OK', access_token: DEMO.accessToken, advertiser_ids: [US] }],
		['wrapped', { code: 0, message: 'OK', data: { access_token: DEMO.accessToken, advertiser_ids: [US] } }],
	])('the OAuth2 credential works with a %s token answer', async (_shape, tokenData) => {
		const run = await runNode({ ...createAudience, authentication: 'oAuth2' }, [{}], oauthCredentials(tokenData));
		expect(outputJson(run)[0].audienceId).toBeTruthy();
	});

	it('an error answer stored by n8n as a token gives the reconnect message with TikTok’s words', async () => {
		const run = await runNode({ ...createAudience, authentication: 'oAuth2' }, [{}], oauthCredentials({ code: 40110, message: 'Auth code is invalid or expired.' }));
		expect(run.data.resultData.error?.message).toBe(
			'The TikTok connection did not complete: reconnect the TikTok credential. TikTok said: "Auth code is invalid or expired."',
		);
	});

	it('a revoked token gives the reconnect message, without the token in it', async () => {
		local.revokeToken(DEMO.accessToken);
		const run = await runNode(createAudience);
		const error = run.data.resultData.error;
		expect(error).toMatchObject({ name: 'NodeApiError' });
		expect(error?.message).toMatch(/reconnect the TikTok credential/);
		expect(JSON.stringify(error)).not.toContain(DEMO.accessToken);
		expect(JSON.stringify(error)).not.toContain(DEMO.secret);
	});

	it('a token of another app cannot reach this ad account', async () => {
		const run = await runNode(createAudience, [{}], accessTokenCredentials({ accessToken: OTHER.accessToken, appId: OTHER.appId, secret: OTHER.secret }));
		expect(run.data.resultData.error?.message).toMatch(/check that the connected account can manage this ad account/);
	});

	/**
	 * n8n runs a credential's declarative test as: resolve the request, send it with the credential's
	 * `authenticate` applied, and fail when a rule's key equals its value. Done here the same way.
	 */
	async function declarativeTest(data: IDataObject): Promise<{ ok: boolean; message?: string }> {
		const credential = new TikTokBusinessApi();
		const environment = data.environment as string;
		// The same choice as the credential's baseURL expression.
		const baseUrl = environment === 'custom' ? String(data.baseUrl) : 'unreachable';
		expect(credential.test.request.baseURL).toContain('$credentials["environment"] === "custom"');
		const response = await fetch(`${baseUrl}${credential.test.request.url}`, {
			headers: { 'Access-Token': String(data.accessToken) },
		});
		if (!response.ok) return { ok: false, message: `HTTP ${response.status}` };
		const body = (await response.json()) as IDataObject;
		for (const rule of credential.test.rules ?? []) {
			if (rule.type !== 'responseSuccessBody') continue;
			const value = rule.properties.key.split('.').reduce<unknown>((object, key) => (object as IDataObject | undefined)?.[key], body);
			if (value === rule.properties.value) return { ok: false, message: rule.properties.message };
		}
		return { ok: true };
	}

	it('the access-token credential test passes with a good token and fails on a bad or revoked one', async () => {
		const good = accessTokenCredentials().tikTokBusinessApi;
		expect(await declarativeTest(good)).toEqual({ ok: true });
		expect((await declarativeTest({ ...good, accessToken: 'bad-token' })).ok).toBe(false);
		local.revokeToken(DEMO.accessToken);
		const revoked = await declarativeTest(good);
		expect(revoked.ok).toBe(false);
		expect(revoked.message).toMatch(/did not accept this access token/);
	});

	it.each([
		['OAuth2', new TikTokBusinessOAuth2Api().properties],
		['access-token', new TikTokBusinessApi().properties],
	])('the %s credential requires a Base URL when the environment is Custom, and shows it only then', (_, properties) => {
		const baseUrl = properties.find((p) => p.name === 'baseUrl');
		expect(baseUrl).toMatchObject({ required: true, displayOptions: { show: { environment: ['custom'] } } });
	});

	it('the OAuth2 credential builds TikTok’s portal and token URLs from the environment', () => {
		const properties = new TikTokBusinessOAuth2Api().properties;
		const byName = Object.fromEntries(properties.map((p) => [p.name, p.default]));
		expect(byName.authQueryParameters).toBe('={{ "app_id=" + $self["clientId"] }}');
		expect(byName.scope).toBe('');
		expect(byName.authentication).toBe('body');
		expect(String(byName.accessTokenUrl)).toContain('/open_api/v1.3/oauth/token/');
		expect(String(byName.authUrl)).toContain('/portal/auth');
	});
});

describe('list search (resource locators)', () => {
	const nodeWith = (parameters: IDataObject) => audienceNode({ resource: 'user', operation: 'add', ...parameters });

	it('lists the ad accounts of the token, filtered by the search text', async () => {
		const context = loadOptionsContext(nodeWith({}), accessTokenCredentials(), 'parameters.advertiserId');
		const all = await new TikTokAudience().methods.listSearch.searchAdvertisers.call(context);
		expect(all.results).toEqual([
			{ name: `Demo Store EU (${DEMO.advertisers[1].id})`, value: DEMO.advertisers[1].id },
			{ name: `Demo Store US (${US})`, value: US },
		]);
		const filtered = await new TikTokAudience().methods.listSearch.searchAdvertisers.call(context, 'us');
		expect(filtered.results.map((r) => r.value)).toEqual([US]);
	});

	it('lists the audiences of the chosen ad account, filtered by the search text', async () => {
		for (const name of ['Buyers', 'Churned']) await runNode({ resource: 'audience', operation: 'create', advertiserId: id(US), name });
		const context = loadOptionsContext(nodeWith({ advertiserId: id(US) }), accessTokenCredentials(), 'parameters.audienceId');
		const found = await new TikTokAudience().methods.listSearch.searchAudiences.call(context, 'churn');
		expect(found.results).toHaveLength(1);
		expect(found.results[0].name).toMatch(/^Churned \(\d+\)$/);
		const none = loadOptionsContext(nodeWith({ advertiserId: id('') }), accessTokenCredentials(), 'parameters.audienceId');
		expect((await new TikTokAudience().methods.listSearch.searchAudiences.call(none)).results).toEqual([]);
	});

	it('a credential without App ID and Secret says what is missing', async () => {
		const context = loadOptionsContext(nodeWith({}), accessTokenCredentials({ appId: '', secret: '' }), 'parameters.advertiserId');
		await expect(new TikTokAudience().methods.listSearch.searchAdvertisers.call(context)).rejects.toThrow(/App ID and Secret/);
	});
});

describe('ID checks', () => {
	// n8n checks a locator mode's `validation` regex before every execution with its regex guard (250 ms budget), which
	// timed out under load; the nodes check IDs themselves instead.
	const descriptions: Array<[string, INodeTypeDescription]> = [
		['TikTok Audience', new TikTokAudience().description],
		['TikTok Batch Sync', new TikTokBatchSync().description as INodeTypeDescription],
	];

	it.each(descriptions)('%s: n8n finds no parameter issue in an ID that is not a number (the node reports it)', (_name, description) => {
		for (const property of description.properties) {
			for (const mode of property.modes ?? []) expect(mode.validation).toBeUndefined();
		}
		const node = audienceNode({ resource: 'user', operation: 'add', advertiserId: id('12ab'), audienceId: id('x1') });
		const issues = NodeHelpers.getNodeParametersIssues(description.properties, { ...node, type: description.name }, description);
		expect(JSON.stringify(issues?.parameters ?? {})).not.toMatch(/ID is a number/);
	});

	it('the node refuses an audience ID that is not a number, naming it, per item with Continue On Fail', async () => {
		const run = await runNode({ resource: 'user', operation: 'add', advertiserId: id(US), audienceId: id('x1'), matchFields: ['email'] }, [
			{ email: 'a@example.com' },
		]);
		expect(run.data.resultData.error?.message).toMatch(/An audience ID is a number of 3–25 digits, e\.g\. \d+; got "x1"/);
		const tolerant = await runNode(
			{ resource: 'audience', operation: 'get', advertiserId: id(US), audienceId: id('abc') },
			[{}],
			accessTokenCredentials(),
			{ continueOnFail: true },
		);
		expect(outputJson(tolerant)[0].error).toMatch(/got "abc"/);
	});

	it('takes 5–25 digits for an ad account and 3–25 for an audience, and nothing shorter, longer or other than digits', () => {
		const node = audienceNode({});
		const digits = (n: number) => '1234567890'.repeat(3).slice(0, n);
		for (const [name, shortest] of [
			['advertiserId', 5],
			['audienceId', 3],
		] as const) {
			expect(checkTikTokId(node, name, digits(shortest))).toBe(digits(shortest));
			expect(checkTikTokId(node, name, digits(25))).toBe(digits(25));
			for (const bad of [digits(shortest - 1), digits(26), '', `${digits(shortest)} `, `${digits(shortest - 1)}x`, '１２３４５６']) {
				expect(() => checkTikTokId(node, name, bad)).toThrow(new RegExp(`ID is a number of ${shortest}–25 digits`));
			}
		}
	});
});
