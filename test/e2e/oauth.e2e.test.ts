/**
 * Connecting TikTok in a real n8n, the way a user does it in the credential dialog, against the local TikTok API:
 *
 * - OAuth2 "Connect": n8n's auth URL → the local TikTok portal (auto-approves) → n8n's callback → token
 *   stored; then a manual run of a TikTok Audience node with that credential creates an audience with the token it
 *   got. For both shapes TikTok answers its token endpoint in (flat, and wrapped in `data`).
 * - A token endpoint answering TikTok's error envelope (HTTP 200, code 40110): n8n says "Connection successful"
 *   (n8n stores whatever the token endpoint answers) and our node fails asking to reconnect the
 *   credential, quoting TikTok's message.
 * - The access-token credential's Test button (POST /rest/credentials/test): fails on a bad token, passes on a good one.
 */
import { executionError, nodeOutput, type Credential, type N8nClient } from './lib/client';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { DEMO, startTikTok, tikTokApiCredentialData, tikTokOAuth2CredentialData, type TikTokLocal } from './lib/tiktok';
import { manualTrigger, packageNode, workflow } from './lib/workflow';

const ADVERTISER = DEMO.advertisers[0].id;

/** Manual Trigger → TikTok Audience "Audience: Create" (by name, reuse) with an OAuth2 credential. */
async function createAudienceWorkflow(client: N8nClient, credential: Credential, audienceName: string) {
	return client.createWorkflow(
		workflow(`oauth: create "${audienceName}"`, [
			manualTrigger(),
			packageNode(
				'Create Audience',
				'tikTokAudience',
				{
					authentication: 'oAuth2',
					resource: 'audience',
					operation: 'create',
					advertiserId: { __rl: true, mode: 'id', value: ADVERTISER },
					name: audienceName,
					options: {},
				},
				{ type: 'tikTokBusinessOAuth2Api', id: credential.id, name: credential.name },
			),
		]),
	);
}

describe('connecting TikTok (OAuth2 Connect, access-token Test)', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
		// The seeded long-term token must not be what makes the runs below work: only tokens issued by Connect.
		tiktok.revokeToken(DEMO.accessToken);
	});

	afterAll(async () => {
		await tiktok?.close();
	});

	describe.each(['flat', 'wrapped'] as const)('OAuth2 Connect, token endpoint answering %s', (shape) => {
		let credential: Credential;

		it('goes n8n auth URL → TikTok portal → n8n callback and stores the token', async () => {
			const { client } = shared;
			tiktok.setConfig({ tokenResponseShape: shape });
			const tokensBefore = tiktok.stats().byPath['oauth/token/'] ?? 0;
			credential = await client.createCredential({
				name: `oauth: TikTok OAuth2 (${shape})`,
				type: 'tikTokBusinessOAuth2Api',
				data: tikTokOAuth2CredentialData(tiktok.url),
			});

			const result = await client.oauth2Connect(credential.id);

			const authUrl = new URL(result.authUrl);
			expect(`${authUrl.origin}${authUrl.pathname}`).toBe(tiktok.authUrl);
			expect(authUrl.searchParams.get('app_id')).toBe(DEMO.appId);
			expect(authUrl.searchParams.get('redirect_uri')).toBe(`${client.baseUrl}/rest/oauth2-credential/callback`);
			expect(authUrl.searchParams.get('state')).toBeTruthy();
			expect(result.providerHops).toHaveLength(1); // the portal redirected straight back to n8n
			expect(new URL(result.callbackUrl).searchParams.get('auth_code')).toBeTruthy();
			expect(result.callbackStatus).toBe(200);
			expect(result.success).toBe(true);
			expect(tiktok.stats().byPath['oauth/token/']).toBe(tokensBefore + 1);
			// GET /rest/credentials/:id?includeData shows only whether token data is stored
			expect((await client.getCredential(credential.id)).data?.oauthTokenData).toBeTruthy();
		});

		it('a manual run of TikTok Audience with that credential creates an audience', async () => {
			const { client } = shared;
			const name = `n8n e2e: OAuth ${shape}`;
			const created = await createAudienceWorkflow(client, credential, name);
			const execution = await client.runAndWait(created.id);

			expect(executionError(execution)).toBeUndefined();
			expect(execution.status).toBe('success');
			const [output] = nodeOutput(execution, 'Create Audience');
			expect(output).toMatchObject({ advertiserId: ADVERTISER, name, created: true });
			const audience = tiktok.stats().audiences.find((a) => a.id === output.audienceId);
			expect(audience).toMatchObject({ name, advertiserId: ADVERTISER, deleted: false });
		});
	});

	it('an error envelope from the token endpoint: n8n says connected, the node asks to reconnect and quotes TikTok', async () => {
		const { client } = shared;
		tiktok.setConfig({ tokenResponseShape: 'flat' });
		const tiktokMessage = 'The auth_code has expired. Please authorize again.';
		tiktok.injectFault({ pathIncludes: 'oauth/token', code: 40110, message: tiktokMessage, count: 1 });
		const credential = await client.createCredential({
			name: 'oauth: TikTok OAuth2 (error envelope)',
			type: 'tikTokBusinessOAuth2Api',
			data: tikTokOAuth2CredentialData(tiktok.url),
		});

		const result = await client.oauth2Connect(credential.id);
		expect(result.success).toBe(true); // n8n stores TikTok's error answer as if it were a token
		expect(tiktok.stats().faultsInjected).toBe(1);

		const audiencesBefore = tiktok.stats().audiences.length;
		const created = await createAudienceWorkflow(client, credential, 'n8n e2e: never created');
		const execution = await client.runAndWait(created.id);
		expect(execution.status).toBe('error');
		const message = executionError(execution) ?? '';
		expect(message).toContain('reconnect the TikTok credential');
		expect(message).toContain(`TikTok said: "${tiktokMessage}"`);
		expect(tiktok.stats().audiences).toHaveLength(audiencesBefore);
	});

	it("the access-token credential's Test fails on a bad token and passes on a good one", async () => {
		const { client } = shared;
		const goodToken = 'e2e-reconnected-access-token';
		tiktok.addToken(goodToken, DEMO.appId);
		const test = async (name: string, accessToken: string) => {
			const data = tikTokApiCredentialData(tiktok.url, { ...DEMO, accessToken });
			const credential = await client.createCredential({ name, type: 'tikTokBusinessApi', data });
			// what the editor's credential dialog sends when it tests (n8n 1.x and 2.x)
			return client.rest<{ status: string; message: string }>('POST', '/rest/credentials/test', {
				credentials: { id: credential.id, name, type: 'tikTokBusinessApi', data },
			});
		};

		const userInfoBefore = tiktok.stats().byPath['user/info/'] ?? 0;
		const bad = await test('oauth: TikTok token (bad)', 'not-a-tiktok-token');
		expect(bad.status).toBe('Error');
		expect(bad.message).toMatch(/TikTok did not accept this access token/);

		const good = await test('oauth: TikTok token (good)', goodToken);
		expect(good).toMatchObject({ status: 'OK' });
		expect(tiktok.stats().byPath['user/info/']).toBe(userInfoBefore + 2); // both tests really asked TikTok
	});
});
