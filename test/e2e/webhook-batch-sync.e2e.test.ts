/**
 * examples/webhook-to-batch-sync.json as a user runs it: imported, pointed at a credential for the local TikTok API,
 * activated, and hit by 200 concurrent sign-ups (one webhook call each, distinct users). Every user must reach the
 * TikTok audience, the Metrics items of the executions must add up, and the downstream IF on `errored > 0` must
 * route every execution's metrics item to "All Good". The window is cut to 1 s (a node option) to keep this quick.
 */
import { createHash } from 'node:crypto';

import { nodeOutput, nodeRuns, type Execution } from './lib/client';
import { importExample, nodeNamed } from './lib/examples';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { DEMO, startTikTokProcess, tikTokApiCredentialData, type TikTokProcess } from './lib/tiktok';

const EXAMPLE = 'webhook-to-batch-sync.json';
const PATH = 'tiktok-signup'; // the example's webhook path
const AUDIENCE = 'n8n: Sign-ups'; // the example's audience name
const USERS = 200;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe(`${EXAMPLE}: active webhook → Batch Sync → IF on the metrics`, () => {
	let shared: SharedN8n;
	let tiktok: TikTokProcess;
	let workflowId: string;

	beforeAll(async () => {
		shared = useSharedN8n();
		// its own process: the 200 concurrent calls below keep this one busy, and a stalled local API would see
		// requests that n8n spaced at 50/s arrive bunched (and answer 40100)
		tiktok = await startTikTokProcess();
	});

	afterAll(async () => {
		// its Schedule Trigger would keep running Flush & Report against a closed local API
		if (workflowId) await shared.client.deactivateWorkflow(workflowId).catch(() => undefined);
		await tiktok?.close();
	});

	it('imports and activates the example', async () => {
		const { client } = shared;
		const credential = await client.createCredential({
			name: 'webhook: TikTok (local)',
			type: 'tikTokBusinessApi',
			data: tikTokApiCredentialData(tiktok.url),
		});
		const { workflow } = await importExample(client, EXAMPLE, { id: credential.id, name: credential.name, type: 'tikTokBusinessApi' }, (wf) => {
			const sync = nodeNamed(wf, 'TikTok Batch Sync');
			sync.parameters.options = { ...(sync.parameters.options as object), windowSeconds: 1 };
		});
		workflowId = workflow.id;
		expect((await client.activateWorkflow(workflowId)).active).toBe(true);
		await client.waitForWebhookRegistered(PATH);
	});

	it(`${USERS} concurrent sign-ups all reach the audience; metrics add up; "All Good" sees each metrics item`, async () => {
		const { client } = shared;
		const emails = Array.from({ length: USERS }, (_, i) => `signup-${String(i).padStart(3, '0')}@example.com`);

		const t0 = Date.now();
		const responses = await Promise.all(emails.map((email) => client.callWebhook(PATH, { body: { email } })));
		const elapsedMs = Date.now() - t0;
		expect(responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual([]);

		// The example answers at once ("Immediately"): the caller never waits for the gathering window.
		expect(responses.every((r) => typeof r.body === 'object' && r.body !== null && 'message' in r.body)).toBe(true);
		expect(responses.some((r) => JSON.stringify(r.body).includes('tiktokSync'))).toBe(false);

		// the executions: one per call (plus any Flush & Report from the example's every-minute schedule)
		const webhookRuns = { where: (e: Execution) => e.mode === 'webhook', timeoutMs: 60_000 };
		await client.waitForExecutions(workflowId, USERS, webhookRuns);
		const executions = await client.waitForExecutions(workflowId, USERS, { ...webhookRuns, includeData: true });
		expect(executions).toHaveLength(USERS);

		// every user is in the one audience the example creates by name
		const stats = await tiktok.control.stats();
		const audiences = stats.audiences.filter((a) => a.name === AUDIENCE);
		expect(audiences).toHaveLength(1);
		const members = new Set((await tiktok.control.members(audiences[0].id)).members);
		expect(members.size).toBe(USERS);
		for (const email of emails) expect(members.has(`EMAIL_SHA256:${sha256(email)}`)).toBe(true);

		// batched: far fewer requests than users, within TikTok's limits, nothing refused
		expect(stats.usersAdded).toBe(USERS);
		expect(stats.mappingRequests).toBeLessThan(USERS / 4);
		expect(stats.rejectedRateLimited).toBe(0);
		expect(stats.maxAttemptedPerSecond).toBeLessThanOrEqual(50);

		const sum = { entered: 0, proceeded: 0, synced: 0, notSynced: 0, pending: 0, errored: 0 };
		const seen = new Set<string>();
		for (const execution of executions) {
			expect(execution.status).toBe('success');
			const metrics = nodeOutput(execution, 'TikTok Batch Sync', { output: 0 });
			expect(metrics).toHaveLength(1);
			const [m] = metrics as Array<Record<string, number> & { audienceId: string }>;
			expect(m.entered).toBe(m.synced + m.notSynced + m.pending + m.errored);
			expect(m.audienceId).toBe(audiences[0].id);
			for (const key of Object.keys(sum) as Array<keyof typeof sum>) sum[key] += m[key];

			// the IF on `errored > 0` sent the metrics item down its false branch, once
			expect(nodeRuns(execution, 'Alert the Team')).toEqual([]);
			expect(nodeOutput(execution, 'Any Errored?', { output: 0 })).toEqual([]);
			expect(nodeOutput(execution, 'All Good')).toEqual(metrics);

			// the Users output carries the input item on, with its status
			const [user] = nodeOutput(execution, 'Next Step for Users') as Array<{ body: { email: string }; tiktokSync: Record<string, unknown> }>;
			expect(user.tiktokSync).toEqual({ status: 'synced', audienceId: audiences[0].id, action: 'add' });
			seen.add(user.body.email);
		}
		expect(sum).toEqual({ entered: USERS, proceeded: USERS, synced: USERS, notSynced: 0, pending: 0, errored: 0 });
		expect(seen.size).toBe(USERS);

		const totals = executions.map((e) => (nodeOutput(e, 'TikTok Batch Sync')[0].totals as { synced: number }).synced);
		expect(Math.max(...totals)).toBe(USERS);
		process.stderr.write(
			`[e2e] ${USERS} webhook calls in ${elapsedMs} ms; ${stats.mappingRequests} mapping requests, ` +
				`${stats.byPath['dmp/custom_audience/list/'] ?? 0} audience list requests, max ${stats.maxRequestsPerSecond}/s\n`,
		);
		expect(DEMO.advertisers[0].id).toBe(nodeOutput(executions[0], 'TikTok Batch Sync')[0].advertiserId);
	});
});
