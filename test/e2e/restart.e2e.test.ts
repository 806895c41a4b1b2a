/**
 * Pending users survive an n8n crash. A copy of examples/webhook-to-batch-sync.json whose "Every Minute" schedule is
 * replaced by a webhook (so the test can run Flush & Report when it wants instead of waiting for the minute):
 *
 * 1. the local TikTok answers 40100 (rate limit) to every segment/mapping request; sign-ups come in through the
 *    webhook; with Wait for Delivery on, each call returns once its users are scheduled for retry: pending. Sign-ups
 *    arriving during the pause TikTok asked for return after the window too, not after the pause;
 * 2. the Batch Sync journal file in n8n's data folder holds them, hashed (no raw email anywhere); static data holds
 *    no journal;
 * 3. n8n is SIGKILLed (the local TikTok runs in the jest process and lives on), the fault is cleared, n8n restarts;
 * 4. the flush webhook runs Flush & Report, which restores the journal and delivers: every user reaches the
 *    audience, counted once; a sign-up after that is synced at once and the totals stay whole.
 * It also covers the harness around a crash: same port, same session cookie, active webhooks registered again.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';

import { readJournalFile } from '../../nodes/TikTokBatchSync/engine';
import { journalFilePath, journalFolder } from '../../nodes/TikTokBatchSync/journalStore';
import { nodeOutput, nodeRuns } from './lib/client';
import { importExample, nodeNamed, renewWebhooks } from './lib/examples';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { startTikTok, tikTokApiCredentialData, type TikTokLocal } from './lib/tiktok';
import { webhookTrigger } from './lib/workflow';

const SIGNUP_PATH = 'restart-signup';
const FLUSH_PATH = 'restart-flush';
const AUDIENCE = 'n8n: Sign-ups';
const SYNC_NODE = 'TikTok Batch Sync';
const USERS = 20;
/** Of USERS, how many sign up after TikTok answered 40100 (during the pause it asked for). */
const LATE_IN_PAUSE = 5;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface StoredJournal {
	writer: string;
	counters: { entered: number; synced: number; pending: number; errored: number };
	queues: Array<{ destination: { audienceId: string }; groups: Array<{ users: number; failures: number; lastError?: string }> }>;
}

describe('pending Batch Sync users survive a SIGKILL of n8n', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;
	let workflowId: string;
	// as typed by people; TikTok's rules (the node's default) make them pendinguser<i>@example.com
	const emails = Array.from({ length: USERS }, (_, i) => ` Pending.User${i}+n8n@Example.COM`);
	const normalised = emails.map((_, i) => `pendinguser${i}@example.com`);
	let journalWriter: string;

	/** The node's journal file in n8n's data folder (appended at the end of each execution), and its text. */
	async function journal(): Promise<{ text: string; journal: StoredJournal | undefined }> {
		const path = journalFilePath(workflowId, SYNC_NODE, journalFolder({ N8N_USER_FOLDER: shared.state.config.userFolder }));
		const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
		return { text, journal: readJournalFile(path)?.journal as StoredJournal | undefined };
	}

	async function waitForJournal(predicate: (j: StoredJournal) => boolean, timeoutMs = 15_000) {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const current = await journal();
			if (current.journal && predicate(current.journal)) return current;
			if (Date.now() > deadline) throw new Error(`journal never matched; last: ${JSON.stringify(current.journal)}`);
			await new Promise((r) => setTimeout(r, 250));
		}
	}

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
	});

	afterAll(async () => {
		if (workflowId) await shared.client.deactivateWorkflow(workflowId).catch(() => undefined);
		await tiktok?.close();
	});

	it('while TikTok rate-limits, webhook sign-ups return pending and are journaled hashed in the journal file', async () => {
		const { client } = shared;
		const credential = await client.createCredential({
			name: 'restart: TikTok (local)',
			type: 'tikTokBusinessApi',
			data: tikTokApiCredentialData(tiktok.url),
		});
		const { workflow } = await importExample(
			client,
			'webhook-to-batch-sync.json',
			{ id: credential.id, name: credential.name, type: 'tikTokBusinessApi' },
			(wf) => {
				renewWebhooks(wf, { 'Sign-up Webhook': SIGNUP_PATH });
				// "Every Minute" → a webhook feeding the same Flush & Report node
				const schedule = nodeNamed(wf, 'Every Minute');
				const flushHook = webhookTrigger(FLUSH_PATH, { name: 'Flush Webhook' });
				flushHook.position = schedule.position;
				wf.nodes = wf.nodes.map((n) => (n === schedule ? flushHook : n));
				wf.connections['Flush Webhook'] = wf.connections['Every Minute'];
				delete wf.connections['Every Minute'];
				// a 3 s window: the concurrent sign-ups below land in one request
				const sync = nodeNamed(wf, SYNC_NODE);
				sync.parameters.options = { ...(sync.parameters.options as object), windowSeconds: 3 };
				// answer when the run ends (the example answers at once), so each call shows when its users were scheduled
				nodeNamed(wf, 'Sign-up Webhook').parameters.responseMode = 'lastNode';
			},
		);
		workflowId = workflow.id;
		await client.activateWorkflow(workflowId);
		await client.waitForWebhookRegistered(SIGNUP_PATH);

		// rate-limited for far longer than the test: cleared by hand once n8n is down
		tiktok.injectFault({ pathIncludes: 'segment/mapping', code: 40100, durationMs: 10 * 60_000 });
		const signUp = (email: string) => client.callWebhook(SIGNUP_PATH, { body: { email } });
		const firstWave = emails.slice(0, USERS - LATE_IN_PAUSE);
		const secondWave = emails.slice(USERS - LATE_IN_PAUSE);
		const first = await Promise.all(firstWave.map(signUp));
		expect(first.map((r) => r.status)).toEqual(firstWave.map(() => 200));
		// (normally) one request for all of them (one window), answered 40100 by the fault, nothing applied
		const stats = tiktok.stats();
		const mappingCalls = stats.byPath['segment/mapping/'];
		expect(mappingCalls).toBeGreaterThanOrEqual(1);
		expect(stats.faultsInjected).toBe(mappingCalls);
		expect(stats.usersAdded).toBe(0);

		// TikTok asked for a pause (the engine holds this scope ≥ 48 s): sign-ups arriving now are scheduled behind
		// it, and their webhook calls return after the window, not after the pause
		const t0 = Date.now();
		const second = await Promise.all(secondWave.map(signUp));
		const secondWaveMs = Date.now() - t0;
		expect(second.map((r) => r.status)).toEqual(secondWave.map(() => 200));
		expect(secondWaveMs).toBeLessThan(20_000);
		expect(tiktok.stats().byPath['segment/mapping/']).toBe(mappingCalls); // the pause is respected

		// each execution's Metrics item: its one user is pending (the first wave with TikTok's reason)
		const executions = await client.waitForExecutions(workflowId, USERS, { includeData: true, where: (e) => e.mode === 'webhook' });
		for (const execution of executions) {
			const [metrics] = nodeOutput(execution, SYNC_NODE);
			expect(metrics).toMatchObject({ entered: 1, synced: 0, pending: 1, errored: 0 });
			const [user] = nodeOutput(execution, 'Next Step for Users') as Array<{ body: { email: string }; tiktokSync: unknown }>;
			expect(user.tiktokSync).toMatchObject({ status: 'pending' });
			if (firstWave.includes(user.body.email)) expect(user.tiktokSync).toMatchObject({ reason: expect.stringContaining('40100') });
		}

		// each execution appends what changed at its end: wait for the last one
		const saved = await waitForJournal((j) => j.counters.pending === USERS);
		const journaled = saved.journal!;
		journalWriter = journaled.writer;
		expect(journaled.counters).toMatchObject({ entered: USERS, synced: 0, pending: USERS, errored: 0 });
		const groups = journaled.queues.flatMap((q) => q.groups);
		expect(groups.reduce((sum, g) => sum + g.users, 0)).toBe(USERS);
		expect(groups.some((g) => g.failures >= 1 && /40100/.test(g.lastError ?? ''))).toBe(true);
		// the journal is no longer in the workflow's static data
		const staticData = (await client.getWorkflow(workflowId)).staticData as { global?: Record<string, unknown> } | null | undefined;
		expect(staticData?.global?.tiktokBatchSync).toBeUndefined();
		// hashed identifiers only: no address, local part or domain in what the node stored
		const text = saved.text;
		expect(text.length).toBeGreaterThan(0);
		expect(text).not.toContain('@');
		expect(text.toLowerCase()).not.toContain('example.com');
		expect(text.toLowerCase()).not.toMatch(/pending\.?user\d/);
	});

	it('after a SIGKILL and a restart, Flush & Report restores the journal and delivers every user once', async () => {
		const { n8n, client } = shared;
		const pidBefore = n8n.pid;
		await n8n.kill();
		tiktok.clearFaults();
		await n8n.start();
		expect(n8n.pid).not.toBe(pidBefore);
		// same session and API key after the crash
		expect((await client.settings()).versionCli).toBe(shared.state.n8nVersion);
		expect(tiktok.stats().usersAdded).toBe(0); // nothing sent before Flush & Report ran

		const flush = await client.callWebhookWhenRegistered(FLUSH_PATH, { body: {} });
		expect(flush.status).toBe(200);
		expect(flush.body).toMatchObject({ operation: 'flush', entered: USERS, synced: USERS, pending: 0, errored: 0 });

		const [audience] = tiktok.stats().audiences.filter((a) => a.name === AUDIENCE);
		const members = new Set(tiktok.members(audience.id));
		expect(members.size).toBe(USERS);
		for (const email of normalised) expect(members.has(`EMAIL_SHA256:${sha256(email)}`)).toBe(true);

		const after = await waitForJournal((j) => j.writer !== journalWriter && j.counters.synced === USERS);
		expect(after.journal!.counters).toMatchObject({ entered: USERS, synced: USERS, pending: 0 });
		expect(after.journal!.queues.flatMap((q) => q.groups)).toEqual([]);

		// a new sign-up after the restart is synced at once; the restored totals are not restored twice
		const late = await client.callWebhook(SIGNUP_PATH, { body: { email: 'late.signup@example.com' } });
		expect(late.status).toBe(200);
		const executions = await client.waitForExecutions(workflowId, USERS + 2, { includeData: true });
		const lateExecution = executions.find(
			(e) => nodeRuns(e, 'Next Step for Users').length > 0 && (nodeOutput(e, 'Next Step for Users')[0].body as { email?: string } | undefined)?.email === 'late.signup@example.com',
		);
		const [metrics] = nodeOutput(lateExecution!, SYNC_NODE);
		expect(metrics).toMatchObject({ entered: 1, synced: 1, pending: 0 });
		expect(metrics.totals).toMatchObject({ entered: USERS + 1, synced: USERS + 1, pending: 0, errored: 0 });
		expect(tiktok.memberCount(audience.id)).toBe(USERS + 1);
	});
});
