/**
 * examples/consent-to-batch-sync.json as a user runs it: imported, activated, and sent consent changes, one webhook
 * call each. Users who opt in and later opt out end out of the audience, those who stay in are in it; the Users
 * output says what was applied to each, and the Metrics items count added and removed users. (Two changes of one
 * user inside one window, from concurrent executions, are covered by test/nodes/batchSync.test.ts: over webhooks the
 * order in which two concurrent executions reach the node is n8n's to choose.)
 */
import { createHash } from 'node:crypto';

import { nodeOutput, type Execution } from './lib/client';
import { importExample, nodeNamed } from './lib/examples';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { startTikTokProcess, tikTokApiCredentialData, type TikTokProcess } from './lib/tiktok';

const EXAMPLE = 'consent-to-batch-sync.json';
const PATH = 'tiktok-consent';
const AUDIENCE = 'n8n: Marketing consent';

const member = (email: string) => `EMAIL_SHA256:${createHash('sha256').update(email).digest('hex')}`;

describe(`${EXAMPLE}: consent webhook → Batch Sync, add or remove per item`, () => {
	let shared: SharedN8n;
	let tiktok: TikTokProcess;
	let workflowId: string;

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTokProcess();
	});

	afterAll(async () => {
		if (workflowId) await shared.client.deactivateWorkflow(workflowId).catch(() => undefined);
		await tiktok?.close();
	});

	it('opt-ins are added, later opt-outs removed: only the users who stayed in are in the audience', async () => {
		const { client } = shared;
		const credential = await client.createCredential({
			name: 'consent: TikTok (local)',
			type: 'tikTokBusinessApi',
			data: tikTokApiCredentialData(tiktok.url),
		});
		const { workflow } = await importExample(client, EXAMPLE, { id: credential.id, name: credential.name, type: 'tikTokBusinessApi' }, (wf) => {
			const sync = nodeNamed(wf, 'TikTok Batch Sync');
			// a window long enough for the two calls of the flipping user to land in it
			sync.parameters.options = { ...(sync.parameters.options as object), windowSeconds: 3 };
		});
		workflowId = workflow.id;
		expect((await client.activateWorkflow(workflowId)).active).toBe(true);
		await client.waitForWebhookRegistered(PATH);
		const send = (email: string, optedOut: boolean) => client.callWebhook(PATH, { body: { email, optedOut } });
		const webhookRuns = { where: (e: Execution) => e.mode === 'webhook', timeoutMs: 60_000 };

		// First wave, one window: three opt in (each execution ends once its users were sent).
		const optIns = ['stays@example.com', 'leaves.later@example.com', 'flipper@example.com'];
		expect((await Promise.all(optIns.map((email) => send(email, false)))).map((r) => r.status)).toEqual([200, 200, 200]);
		await client.waitForExecutions(workflowId, 3, webhookRuns);
		// Second wave, the next window: two of them opt out.
		const optOuts = ['leaves.later@example.com', 'flipper@example.com'];
		expect((await Promise.all(optOuts.map((email) => send(email, true)))).map((r) => r.status)).toEqual([200, 200]);
		const executions = await client.waitForExecutions(workflowId, 5, { ...webhookRuns, includeData: true });

		const audience = (await tiktok.control.stats()).audiences.find((a) => a.name === AUDIENCE);
		expect(audience).toBeDefined();
		const members = (await tiktok.control.members(audience!.id)).members;
		expect(members).toEqual([member('stays@example.com')]);

		const applied = executions.map((execution) => {
			const [user] = nodeOutput(execution, 'Users with Their Status') as Array<{ body: { email: string; optedOut: boolean }; tiktokSync: { status: string; action: string } }>;
			return `${user.body.email} ${user.body.optedOut ? 'out' : 'in'} → ${user.tiktokSync.status} ${user.tiktokSync.action}`;
		});
		expect(applied.sort()).toEqual(
			[
				'flipper@example.com in → synced add',
				'flipper@example.com out → synced remove',
				'leaves.later@example.com in → synced add',
				'leaves.later@example.com out → synced remove',
				'stays@example.com in → synced add',
			].sort(),
		);
		const metrics = executions.map((execution) => nodeOutput(execution, 'Metrics')[0] as { added: number; removed: number });
		expect(metrics.reduce((sum, m) => sum + m.added, 0)).toBe(3);
		expect(metrics.reduce((sum, m) => sum + m.removed, 0)).toBe(2);
	});
});
