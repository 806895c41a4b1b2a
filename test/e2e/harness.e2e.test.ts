/**
 * The e2e plumbing itself, with n8n's own nodes only (so a failure here points at the harness or n8n, not at this
 * package's nodes): a manual run read back through the public API, and an activated webhook whose workflow static
 * data persists between executions (what the Batch Sync journal relies on). OAuth2 Connect is covered by
 * oauth.e2e.test.ts and a SIGKILL restart by restart.e2e.test.ts, with this package's nodes.
 */
import { executionError, nodeOutput } from './lib/client';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { codeNode, manualTrigger, webhookTrigger, workflow } from './lib/workflow';

describe('e2e harness', () => {
	let shared: SharedN8n;

	beforeAll(() => {
		shared = useSharedN8n();
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

	it('calls an activated webhook and keeps workflow static data between executions', async () => {
		const { client } = shared;
		const path = `harness-counter-${Date.now()}`;
		const created = await client.createWorkflow(
			workflow('harness: webhook counter', [
				webhookTrigger(path),
				codeNode(
					'Count',
					'const data = $getWorkflowStaticData("global"); data.count = (data.count || 0) + 1; return [{ json: { count: data.count, got: $input.first().json.body } }];',
				),
			]),
		);
		await client.activateWorkflow(created.id);
		await client.waitForWebhookRegistered(path);
		const first = await client.callWebhook(path, { body: { hello: 'world' } });
		expect(first.status).toBe(200);
		expect(first.body).toEqual({ count: 1, got: { hello: 'world' } });
		const second = await client.callWebhook(path, { body: {} });
		expect(second.body).toMatchObject({ count: 2 });
		const executions = await client.waitForExecutions(created.id, 2);
		expect(executions.every((e) => e.status === 'success' && e.mode === 'webhook')).toBe(true);
		expect((await client.getWorkflow(created.id)).staticData).toMatchObject({ global: { count: 2 } });
		await client.deactivateWorkflow(created.id);
	});
});
