/**
 * The e2e plumbing itself, with n8n's own nodes only (so a failure here points at the harness or n8n, not at
 * this package's nodes): manual runs, activated webhooks with workflow static data, OAuth2 Connect of this
 * package's credential against the local TikTok API, and a SIGKILL restart of the shared n8n.
 */
import { executionError, nodeOutput } from './lib/client';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { DEMO, startTikTok, tikTokOAuth2CredentialData, type TikTokLocal } from './lib/tiktok';
import { codeNode, manualTrigger, webhookTrigger, workflow } from './lib/workflow';

describe('e2e harness', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
	});

	afterAll(async () => {
		await tiktok?.close();
	});

	it('runs a workflow manually and reads the run data', async () => {
		const { client } = shared;
		const created = await client.createWorkflow(
			workflow('harness: manual', [manualTrigger(), codeNode('Code', 'return [{ json: { sum: 1 + 2, mode: $execution.mode } }];')]),
		);
		const execution = await client.runAndWait(created.id);
		expect(executionError(execution)).toBeUndefined();
		expect(execution.status).toBe('success');
		expect(nodeOutput(execution, 'Code')).toEqual([{ sum: 3, mode: 'test' }]); // $execution.mode: 'test' | 'production'
	});

	const counterPath = `harness-counter-${Date.now()}`;
	let counterWorkflowId: string;

	it('calls an activated webhook and keeps workflow static data between executions', async () => {
		const { client } = shared;
		const created = await client.createWorkflow(
			workflow('harness: webhook counter', [
				webhookTrigger(counterPath),
				codeNode(
					'Count',
					'const data = $getWorkflowStaticData("global"); data.count = (data.count || 0) + 1; return [{ json: { count: data.count, got: $input.first().json.body } }];',
				),
			]),
		);
		counterWorkflowId = created.id;
		await client.activateWorkflow(created.id);
		const first = await client.callWebhookWhenRegistered(counterPath, { body: { hello: 'world' } });
		expect(first.status).toBe(200);
		expect(first.body).toEqual({ count: 1, got: { hello: 'world' } });
		const second = await client.callWebhook(counterPath, { body: {} });
		expect(second.body).toMatchObject({ count: 2 });
		const executions = await client.waitForExecutions(created.id, 2);
		expect(executions.every((e) => e.status === 'success' && e.mode === 'webhook')).toBe(true);
		expect((await client.getWorkflow(created.id)).staticData).toMatchObject({ global: { count: 2 } });
	});

	it("connects this package's OAuth2 credential through the local TikTok portal", async () => {
		const { client } = shared;
		const credential = await client.createCredential({
			name: 'harness: TikTok OAuth2',
			type: 'tikTokBusinessOAuth2Api',
			data: tikTokOAuth2CredentialData(tiktok.url),
		});
		const result = await client.oauth2Connect(credential.id);
		expect(new URL(result.authUrl).searchParams.get('app_id')).toBe(DEMO.appId);
		expect(result.callbackUrl).toContain('auth_code=');
		expect(result.success).toBe(true);
		expect(tiktok.stats().byPath['oauth/token/']).toBe(1);
		expect((await client.getCredential(credential.id)).data?.oauthTokenData).toBeTruthy();
	});

	it('survives a SIGKILL restart: same session, same static data, webhook still registered', async () => {
		const { n8n, client } = shared;
		const pidBefore = n8n.pid;
		await n8n.restart({ kill: true });
		expect(n8n.pid).not.toBe(pidBefore);
		expect((await client.settings()).versionCli).toBe(shared.state.n8nVersion);
		const third = await client.callWebhookWhenRegistered(counterPath, { body: {} });
		expect(third.body).toMatchObject({ count: 3 });
		expect((await client.getWorkflow(counterWorkflowId)).staticData).toMatchObject({ global: { count: 3 } });
	});
});
