/**
 * The TikTok Audience node in manual executions (the editor's "Execute workflow"), against the local TikTok API:
 * examples/audience-manual.json adds its customers to an audience it creates by name, a remove workflow takes one
 * of them out again, and Audience → Create with "reuse" returns the same audience twice. Membership is read from
 * the local TikTok's store (hashed identifiers, as TikTok receives them).
 */
import { createHash } from 'node:crypto';

import { executionError, nodeOutput, type Credential } from './lib/client';
import { importExample } from './lib/examples';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { DEMO, startTikTok, tikTokApiCredentialData, type TikTokLocal } from './lib/tiktok';
import { codeNode, manualTrigger, packageNode, workflow } from './lib/workflow';

const ADVERTISER = DEMO.advertisers[0].id;
/** The audience examples/audience-manual.json adds to. */
const EXAMPLE_AUDIENCE = 'n8n: Loyal customers (suppression)';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const email = (normalised: string) => `EMAIL_SHA256:${sha256(normalised)}`;
const phone = (e164: string) => `PHONE_SHA256:${sha256(e164)}`;

describe('TikTok Audience node, manual executions', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;
	let credential: Credential;
	let exampleAudienceId: string;

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
		credential = await shared.client.createCredential({
			name: 'manual: TikTok (local)',
			type: 'tikTokBusinessApi',
			data: tikTokApiCredentialData(tiktok.url),
		});
	});

	afterAll(async () => {
		await tiktok?.close();
	});

	const credentialRef = () => ({ id: credential.id, name: credential.name, type: 'tikTokBusinessApi' });

	it('examples/audience-manual.json creates the audience by name and adds its valid customers', async () => {
		const { client } = shared;
		const { workflow: created } = await importExample(client, 'audience-manual.json', credentialRef());
		const execution = await client.runAndWait(created.id);

		expect(executionError(execution)).toBeUndefined();
		expect(execution.status).toBe('success');
		const items = nodeOutput(execution, 'Add to TikTok Audience');
		expect(items).toHaveLength(3);
		// each customer goes on, with the result under tiktokSync
		expect(items.map((item) => item.email)).toEqual(['Jane.Doe@example.com', 'john@example.com', 'not-an-email']);
		const [jane, john, invalid] = items.map((item) => item.tiktokSync as Record<string, unknown>);
		expect(jane).toMatchObject({ status: 'synced', action: 'add', matchedFields: ['email', 'phone'] });
		expect(john).toMatchObject({ status: 'synced', action: 'add', matchedFields: ['email'] });
		expect(invalid).toMatchObject({ status: 'not_synced', reason: expect.stringContaining('email') });
		expect(jane.audienceId).toBe(john.audienceId);
		exampleAudienceId = String(jane.audienceId);

		const audiences = tiktok.stats().audiences.filter((a) => a.name === EXAMPLE_AUDIENCE);
		expect(audiences).toEqual([expect.objectContaining({ id: exampleAudienceId, advertiserId: ADVERTISER })]);
		// TikTok's email rules: lowercase, dots before the @ dropped; phones in E.164 with the "+"
		expect(tiktok.members(exampleAudienceId).sort()).toEqual(
			[email('janedoe@example.com'), phone('+14155550123'), email('john@example.com')].sort(),
		);
	});

	it('Remove From Audience takes a user out (by name, the same audience)', async () => {
		const { client } = shared;
		const created = await client.createWorkflow(
			workflow('manual: remove Jane', [
				manualTrigger(),
				codeNode('Unsubscribed', "return [{ json: { email: ' JANE.DOE+news@Example.com ', phone: '+1 (415) 555-0123' } }];"),
				packageNode(
					'Remove From TikTok Audience',
					'tikTokAudience',
					{
						authentication: 'accessToken',
						resource: 'user',
						operation: 'remove',
						advertiserId: { __rl: true, mode: 'id', value: ADVERTISER },
						audienceSelection: 'byName',
						audienceName: EXAMPLE_AUDIENCE,
						matchFields: ['email', 'phone'],
						options: {},
					},
					{ type: 'tikTokBusinessApi', id: credential.id, name: credential.name },
				),
			]),
		);
		const execution = await client.runAndWait(created.id);

		expect(executionError(execution)).toBeUndefined();
		expect(nodeOutput(execution, 'Remove From TikTok Audience')).toEqual([
			expect.objectContaining({
				email: ' JANE.DOE+news@Example.com ',
				tiktokSync: expect.objectContaining({ status: 'synced', action: 'remove', audienceId: exampleAudienceId }),
			}),
		]);
		expect(tiktok.members(exampleAudienceId)).toEqual([email('john@example.com')]);
		expect(tiktok.stats().audiences.filter((a) => a.name === EXAMPLE_AUDIENCE)).toHaveLength(1);
	});

	it('Audience → Create (reuse existing) returns the same audience on every run', async () => {
		const { client } = shared;
		const name = 'n8n e2e: create or reuse';
		const created = await client.createWorkflow(
			workflow('manual: create or reuse', [
				manualTrigger(),
				packageNode(
					'Create Audience',
					'tikTokAudience',
					{
						authentication: 'accessToken',
						resource: 'audience',
						operation: 'create',
						advertiserId: { __rl: true, mode: 'id', value: ADVERTISER },
						name,
						options: { reuseExisting: true },
					},
					{ type: 'tikTokBusinessApi', id: credential.id, name: credential.name },
				),
			]),
		);

		const first = await client.runAndWait(created.id);
		const second = await client.runAndWait(created.id);

		expect(executionError(first)).toBeUndefined();
		expect(executionError(second)).toBeUndefined();
		const [one] = nodeOutput(first, 'Create Audience');
		const [two] = nodeOutput(second, 'Create Audience');
		expect(one).toMatchObject({ name, advertiserId: ADVERTISER, created: true });
		expect(two).toMatchObject({ name, advertiserId: ADVERTISER, created: false, audienceId: one.audienceId });
		expect(tiktok.stats().audiences.filter((a) => a.name === name)).toHaveLength(1);
	});
});
