/**
 * No personal data at rest, in outputs' error fields, in metrics, in logs or on the wire; no token or secret in any
 * error. Known raw values go through both nodes on their good and bad paths (synced, not synced, pending and
 * journaled, errored, backlog full, token revoked, TikTok down); then everything the run left behind is searched for
 * those values in every form a leak could take (raw, trimmed, lower-cased, normalised, digits only).
 */
import type { IDataObject, ILoadOptionsFunctions, INode } from 'n8n-workflow';

import { TikTokBatchSync } from '../../nodes/TikTokBatchSync/TikTokBatchSync.node';
import { getCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { journalFilePath } from '../../nodes/TikTokBatchSync/journalStore';
import { readJournalFile, type Journal } from '../../nodes/TikTokBatchSync/engine';
import { TikTokClient } from '../../nodes/shared/transport/client';
import type { CredentialFixtures } from '../harness/n8n';
import { DEMO, OTHER, type TikTokLocal } from '../tiktok-local/server';
import { accessTokenCredentials, addParameters, audienceNode, batchNode, createAudience, locator, syncParameters } from '../harness/fixtures';
import { captureLogs, errorJson, leaksIn, runErrors, runOne, type NodeRun, syncResults } from './helpers';
import { useLocalTikTok } from '../harness/localTikTok';

// ---- the personal data -------------------------------------------------------------------------------------------

const RAW = {
	emails: ['  Zanzibar.Quokka+promo@Example-Mail.COM ', 'xylophone.wombat@privacy-test.org', 'Ñandú.Secreto@ejemplo.es'],
	invalidEmails: ['kumquat.rawvalue@@bad-domain', 'marmalade-nodomain', 'Lychee.Fruitbat@localhost', 'quince tart@example.com'],
	phones: ['+1 (415) 555-0199', '+44 20 7946 0958', 4155550123],
	invalidPhones: ['555-KUMQUAT', '+1 415 555 01' /* E.164-shaped, but too short for the North American plan */],
	idfas: ['AB12CD34-EF56-4A78-9B01-23456789ABCD'],
	gaids: ['6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9'],
	invalidDeviceIds: ['DEVICE-PERSIMMON-42'],
};

/** Every form a leak could take. */
const NEEDLES: string[] = [
	...RAW.emails.flatMap((email) => [email.trim(), email.trim().toLowerCase()]),
	'zanzibarquokka@example-mail.com',
	'zanzibar.quokka',
	'zanzibarquokka',
	'xylophone',
	'wombat',
	'ñandú',
	'nandusecreto',
	'ñandúsecreto',
	...RAW.invalidEmails,
	'kumquat',
	'marmalade',
	'lychee',
	'fruitbat',
	'quince',
	'+14155550199',
	'14155550199',
	'4155550199',
	'415) 555',
	'+442079460958',
	'442079460958',
	'79460958',
	'4155550123',
	'+14155550123',
	'PERSIMMON',
	'1 415 555 01',
	...RAW.idfas.flatMap((id) => [id, id.toLowerCase(), id.replace(/-/g, ''), id.slice(0, 8)]),
	...RAW.gaids.flatMap((id) => [id, id.toUpperCase(), id.replace(/-/g, ''), id.slice(0, 8)]),
];

const TOKEN = 'tok-PRIVACY-7c1f9e2d55aa41b0';
const SECRETS = [TOKEN, TOKEN.slice(0, 14), TOKEN.slice(-12), DEMO.secret];

function personalRecords(): IDataObject[] {
	const records: IDataObject[] = [];
	RAW.emails.forEach((email, i) => records.push({ email, phone: RAW.phones[i], idfa: RAW.idfas[i], gaid: RAW.gaids[i] }));
	for (const email of RAW.invalidEmails) records.push({ email });
	for (const phone of RAW.invalidPhones) records.push({ phone });
	for (const idfa of RAW.invalidDeviceIds) records.push({ idfa });
	records.push({ email: RAW.emails[1], phone: RAW.invalidPhones[0], idfa: RAW.invalidDeviceIds[0] });
	records.push({ email: RAW.invalidEmails[0], phone: RAW.phones[0] });
	return records;
}

const ALL_FIELDS = ['email', 'phone', 'idfa', 'aaid'];
/** Records of personalRecords() with at least one usable identifier (the other 7 are not synced). */
const SENDABLE = 5;

// ---- surfaces ------------------------------------------------------------------------------------------------------

interface Surface {
	name: string;
	text: string;
}

function leaks(surfaces: Surface[], needles: string[]): Array<[string, string[]]> {
	return surfaces.map((surface): [string, string[]] => [surface.name, leaksIn(surface.text, needles)]).filter(([, found]) => found.length > 0);
}

/** What a run leaves that must be free of personal data (output items are the input passed on: only their tiktokSync). */
function surfacesOf(label: string, run: NodeRun, kind: 'batch' | 'audience'): Surface[] {
	const surfaces: Surface[] = [
		{ name: `${label}: workflow static data`, text: JSON.stringify(run.staticData) },
		{ name: `${label}: journal files`, text: run.journalText },
		{ name: `${label}: errors and hints`, text: runErrors(run.run).map(errorJson).join('\n') },
	];
	if (run.error) return surfaces;
	if (kind === 'batch') {
		surfaces.push({ name: `${label}: metrics item`, text: JSON.stringify(run.output(0)) });
		surfaces.push({ name: `${label}: users' tiktokSync`, text: JSON.stringify(syncResults(run.output(1))) });
	} else {
		surfaces.push({ name: `${label}: items' tiktokSync`, text: JSON.stringify(syncResults(run.output(0))) });
	}
	return surfaces;
}

let local: TikTokLocal;

useLocalTikTok((started) => (local = started));

afterEach(() => getCoordinator().reset());

it('known emails, phones and device IDs appear nowhere: static data, outputs, errors, metrics, logs, console, requests', async () => {
	const good = await createAudience(local, 'privacy good');
	const doomed = await createAudience(local, 'privacy doomed');
	local.deleteAudience(doomed);
	const records = personalRecords();
	const sent: string[] = [];
	const request = TikTokClient.prototype.request;
	const requestSpy = jest.spyOn(TikTokClient.prototype, 'request').mockImplementation(function (this: TikTokClient, ...args) {
		sent.push(JSON.stringify(args));
		return request.apply(this, args);
	} as TikTokClient['request']);
	const capture = captureLogs();
	const surfaces: Surface[] = [];
	let pendingJournal: Journal | undefined;
	let passedThrough = '';
	try {
		const batchOptions = { defaultCountryCode: '1' };
		const batchFields = { matchFields: ALL_FIELDS };
		// Batch Sync: synced and not synced.
		const synced = await runOne(local, batchNode(syncParameters(good, batchOptions, batchFields)), records, { workflowId: 'wf-p1' });
		expect(synced.output(0)[0]).toMatchObject({ entered: records.length, errored: 0, pending: 0 });
		expect(synced.output(0)[0].notSynced).toBeGreaterThanOrEqual(4);
		surfaces.push(...surfacesOf('batch synced', synced, 'batch'));
		passedThrough = JSON.stringify(synced.output(1));

		// Batch Sync: TikTok failing, users pending and journaled (hashed) in static data.
		local.injectFault({ durationMs: 30_000, pathIncludes: 'segment/mapping', code: 50000 });
		const pending = await runOne(local, batchNode(syncParameters(good, batchOptions, batchFields)), records, { workflowId: 'wf-p2' });
		expect(pending.output(0)[0]).toMatchObject({ pending: SENDABLE, notSynced: 7 });
		pendingJournal = readJournalFile(journalFilePath('wf-p2', 'TikTok Batch Sync'))?.journal;
		surfaces.push(...surfacesOf('batch pending', pending, 'batch'));

		// Batch Sync: the backlog is full (NodeOperationError), with the same failing TikTok.
		const full = await runOne(
			local,
			batchNode(syncParameters(good, { ...batchOptions, usersPerRequest: 2, maxPendingUsers: 2 }, batchFields)),
			records,
			{ workflowId: 'wf-p3' },
		);
		expect(full.error?.message).toMatch(/were not accepted/);
		surfaces.push(...surfacesOf('batch backlog full', full, 'batch'));

		// Flush & Report over the pending journal, while TikTok still fails.
		const flush = await runOne(local, batchNode({ operation: 'flush' }), [{}], { workflowId: 'wf-p2', staticData: pending.staticData });
		surfaces.push(...surfacesOf('batch flush', flush, 'batch'));
		local.clearFaults();

		// Batch Sync: an audience deleted in TikTok (errored with a reason).
		const errored = await runOne(local, batchNode(syncParameters(doomed, batchOptions, batchFields)), records, { workflowId: 'wf-p4' });
		expect(errored.output(0)[0]).toMatchObject({ errored: SENDABLE });
		surfaces.push(...surfacesOf('batch errored', errored, 'batch'));

		// TikTok Audience: synced, not synced, ignored fields.
		const audienceParameters = (audienceId: string) => addParameters(audienceId, { matchFields: ALL_FIELDS, options: { defaultCountryCode: '1' } });
		const added = await runOne(local, audienceNode(audienceParameters(good)), records);
		expect(syncResults(added.output()).filter((item) => item.status === 'not_synced').length).toBeGreaterThanOrEqual(4);
		surfaces.push(...surfacesOf('audience add', added, 'audience'));

		const dryRun = await runOne(local, audienceNode({ ...audienceParameters(good), options: { defaultCountryCode: '1', dryRun: true } }), records);
		surfaces.push(...surfacesOf('audience dry run', dryRun, 'audience'));

		// TikTok Audience: deleted audience with Continue On Fail (error fields on items), and a revoked token (run error).
		const failed = await runOne(local, audienceNode(audienceParameters(doomed), { onError: 'continueRegularOutput' }), records);
		expect(syncResults(failed.output()).filter((item) => item.status === 'error').length).toBe(SENDABLE);
		surfaces.push(...surfacesOf('audience deleted', failed, 'audience'));
		local.revokeToken(DEMO.accessToken);
		const revoked = await runOne(local, audienceNode(audienceParameters(good)), records);
		expect(revoked.error?.message).toMatch(/reconnect/);
		surfaces.push(...surfacesOf('audience revoked', revoked, 'audience'));
		const revokedBatch = await runOne(local, batchNode(syncParameters(good, batchOptions, batchFields)), records, { workflowId: 'wf-p5' });
		surfaces.push(...surfacesOf('batch revoked', revokedBatch, 'batch'));
	} finally {
		capture.restore();
		requestSpy.mockRestore();
	}
	surfaces.push({ name: 'logs (n8n Logger, LoggerProxy, console, stdout/stderr)', text: capture.lines.join('\n') });
	surfaces.push({ name: 'requests sent to TikTok', text: sent.join('\n') });

	// The checks are not vacuous: the journal holds pending users, the logs hold the engine's lines, TikTok got
	// requests, and the same scan does find the values where they legitimately are (the input passed through).
	expect(pendingJournal?.queues[0].groups[0].rows).toBe(SENDABLE);
	expect(capture.lines.some((line) => line.includes('Workflow execution started'))).toBe(true);
	expect(sent.some((request) => request.includes('segment/mapping/'))).toBe(true);
	expect(leaksIn(passedThrough, NEEDLES).length).toBeGreaterThan(5);
	expect(surfaces.length).toBeGreaterThan(25);

	expect(leaks(surfaces, NEEDLES)).toEqual([]);
	expect(leaks(surfaces, SECRETS)).toEqual([]);
});

it('when TikTok fails, no error carries the access token or the app secret', async () => {
	local.addToken(TOKEN, DEMO.appId);
	const audienceId = await createAudience(local, 'secrets');
	const credentials = accessTokenCredentials(local, TOKEN);
	const closedPort: CredentialFixtures = {
		tikTokBusinessApi: { ...credentials.tikTokBusinessApi, baseUrl: 'http://127.0.0.1:9' },
	};
	const oauth: CredentialFixtures = {
		tikTokBusinessOAuth2Api: {
			clientId: DEMO.appId,
			clientSecret: DEMO.secret,
			environment: 'custom',
			baseUrl: local.url,
			oauthTokenData: { access_token: TOKEN, advertiser_ids: [DEMO.advertisers[0].id] },
		},
	};
	const oauthCredentialNode = { credentials: { tikTokBusinessOAuth2Api: { id: '2', name: 'TikTok OAuth' } } };
	const capture = captureLogs();
	const texts: Surface[] = [];
	const record = (name: string, run: NodeRun) => {
		texts.push({ name, text: runErrors(run.run).map(errorJson).join('\n') + JSON.stringify(run.staticData) + run.journalText });
		if (!run.error) texts.push({ name: `${name} output`, text: JSON.stringify(run.run.data.resultData.runData) });
	};
	const getParameters = { resource: 'audience', operation: 'get', advertiserId: locator(DEMO.advertisers[0].id), audienceId: locator(audienceId) };
	try {
		local.injectFault({ count: 1, pathIncludes: 'custom_audience/get', httpStatus: 502, html: true });
		record('HTML 502', await runOne(local, audienceNode(getParameters), [{}], { credentials }));
		record('connection refused', await runOne(local, audienceNode(getParameters), [{}], { credentials: closedPort }));
		local.injectFault({ count: 1, pathIncludes: 'custom_audience/get', reset: true });
		record('connection reset', await runOne(local, audienceNode(getParameters), [{}], { credentials }));
		record(
			'another app\'s ad account (40001)',
			await runOne(local, audienceNode({ ...getParameters, advertiserId: locator(OTHER.advertisers[0].id) }), [{}], { credentials }),
		);
		record(
			'OAuth2, 50000 on create',
			await (async () => {
				local.injectFault({ count: 1, pathIncludes: 'segment/audience', code: 50000 });
				return await runOne(
					local,
					audienceNode({ authentication: 'oAuth2', resource: 'audience', operation: 'create', advertiserId: locator(DEMO.advertisers[0].id), name: 'x' }, oauthCredentialNode),
					[{}],
					{ credentials: oauth },
				);
			})(),
		);
		record(
			'OAuth2 token data is a TikTok error',
			await runOne(
				local,
				audienceNode({ ...getParameters, authentication: 'oAuth2' }, oauthCredentialNode),
				[{}],
				{ credentials: { tikTokBusinessOAuth2Api: { ...oauth.tikTokBusinessOAuth2Api, oauthTokenData: { code: 40110, message: 'The auth_code has expired.' } } } },
			),
		);
		local.injectFault({ durationMs: 30_000, pathIncludes: 'segment/mapping', httpStatus: 429, html: true });
		record('batch sync, HTML 429', await runOne(local, batchNode(syncParameters(audienceId)), [{ email: 'a@example.com' }], { credentials, workflowId: 'wf-s1' }));
		local.clearFaults();
		local.revokeToken(TOKEN);
		record('audience add, token revoked', await runOne(local, audienceNode(addParameters(audienceId)), [{ email: 'a@example.com' }], { credentials }));
		record('batch sync, token revoked', await runOne(local, batchNode(syncParameters(audienceId)), [{ email: 'b@example.com' }], { credentials, workflowId: 'wf-s2' }));

		// The ad-account list is the one call that carries the secret (in its query string).
		local.addToken(TOKEN, DEMO.appId);
		const node = batchNode({}) as INode;
		const context = {
			getNode: () => node,
			getNodeParameter: (name: string) => (name === 'authentication' ? 'accessToken' : undefined),
			getCredentials: async () => credentials.tikTokBusinessApi,
		} as unknown as ILoadOptionsFunctions;
		const search = new TikTokBatchSync().methods.listSearch.searchAdvertisers;
		for (const fault of [{ httpStatus: 502, html: true }, { code: 40105 }, { reset: true }]) {
			local.injectFault({ count: 1, pathIncludes: 'oauth2/advertiser', ...fault });
			const error = await search.call(context).then(
				() => undefined,
				(thrown: unknown) => thrown,
			);
			expect(error).toBeDefined();
			texts.push({ name: `ad-account list, ${JSON.stringify(fault)}`, text: errorJson(error) });
		}
	} finally {
		capture.restore();
	}
	texts.push({ name: 'logs', text: capture.lines.join('\n') });
	expect(texts.filter((text) => /error|TikTok/i.test(text.text)).length).toBeGreaterThanOrEqual(12);
	expect(leaks(texts, SECRETS)).toEqual([]);
});
