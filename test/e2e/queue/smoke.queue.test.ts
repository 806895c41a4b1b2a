/**
 * Queue-mode smoke: examples/webhook-to-batch-sync.json in a real n8n queue topology (PostgreSQL, own Redis, main and
 * two workers, the packed package in each), hit by 60 concurrent webhook sign-ups. Main only enqueues; the executions
 * must spread over both workers, all succeed, and the local TikTok API must receive every user (distinct hashed ids
 * in its request log). This runs the package as it is today: each worker's Batch Sync batches and paces on its own.
 * Pacing across workers, exact counts, crashes and a stopped Redis build on the same helper (lib/queueMode.ts).
 */
import { createHash, randomBytes } from 'node:crypto';

import { nodeOutput, nodeRuns, type Execution } from '../lib/client';
import { importExample, nodeNamed, renewWebhooks } from '../lib/examples';
import { acceptedIds, finishedExecutionsOf, maxPerSlidingWindow, startQueueTopology, type QueueTopology } from '../lib/queueMode';
import { selectedMajor } from '../lib/runtime';
import { tikTokApiCredentialData } from '../lib/tiktok';
import { waitFor } from '../lib/net';

const EXAMPLE = 'webhook-to-batch-sync.json';
const AUDIENCE = 'n8n: Sign-ups';
const USERS = 60;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe(`queue mode (n8n ${selectedMajor()}): main + 2 workers + Redis + PostgreSQL`, () => {
	let q: QueueTopology;
	let workflowId: string | undefined;
	const path = `queue-signup-${randomBytes(3).toString('hex')}`;
	const t0 = Date.now();

	beforeAll(async () => {
		q = await startQueueTopology({
			major: selectedMajor(),
			workers: 2,
			label: 'smoke',
			tiktok: true,
			env: { N8N_TIKTOK_SYNC_LEASE_MS: '5000' },
		});
		const t = q.timings;
		process.stderr.write(
			`[queue] topology up in ${seconds(t.total)}: database ${seconds(t.database)}, redis ${seconds(t.redis - t.database)}, ` +
				`package install ${seconds(t['install-main'] - (t.tiktok ?? t.redis))} + ${seconds(t['install-workers'] - t.owner)} (main, workers), ` +
				`main ready ${seconds(q.main.lastStartupMs)}, workers ready ${q.workers.map((w) => seconds(w.lastStartupMs)).join(' + ')} ` +
				`(db ${q.dbName}, redis :${q.redis.port}, bull prefix ${q.bullPrefix}, package prefix ${q.packagePrefix})\n`,
		);
	});

	afterAll(async () => {
		if (!q) return;
		if (workflowId) await q.client.deactivateWorkflow(workflowId).catch(() => undefined);
		const odd = q.oddWorkerLogLines();
		if (odd.length) process.stderr.write(`[queue] worker log lines worth a look (${odd.length}):\n${odd.slice(0, 30).join('\n')}\n`);
		const tStop = Date.now();
		await q.stop();
		process.stderr.write(`[queue] stopped in ${seconds(Date.now() - tStop)}; whole file ${seconds(Date.now() - t0)}; logs in ${q.artifactsDir}\n`);
	});

	it('runs in queue mode on PostgreSQL, with both workers connected', async () => {
		const settings = await q.client.settings();
		expect(settings.executionMode).toBe('queue');
		expect(q.workers).toHaveLength(2);
		for (const worker of q.workers) {
			expect(worker.isRunning()).toBe(true);
			await worker.waitForLog(/n8n worker is now ready/);
		}
		// n8n's Bull queue lives under this run's prefix in this run's own Redis
		expect((await q.redisKeys(`${q.bullPrefix}:`)).length).toBeGreaterThan(0);
	});

	it(`${USERS} concurrent webhook sign-ups run on both workers, all succeed, and every user reaches TikTok`, async () => {
		const { client, tiktok } = q;
		const credential = await client.createCredential({ name: 'queue: TikTok (local)', type: 'tikTokBusinessApi', data: tikTokApiCredentialData(tiktok!.url) });
		const { workflow } = await importExample(client, EXAMPLE, { id: credential.id, name: credential.name, type: 'tikTokBusinessApi' }, (wf) => {
			renewWebhooks(wf, { 'Sign-up Webhook': path });
			const sync = nodeNamed(wf, 'TikTok Batch Sync');
			sync.parameters.options = { ...(sync.parameters.options as object), windowSeconds: 1 };
		});
		workflowId = workflow.id;
		expect((await client.activateWorkflow(workflow.id)).active).toBe(true);
		await client.waitForWebhookRegistered(path);

		const emails = Array.from({ length: USERS }, (_, i) => `queue-signup-${String(i).padStart(3, '0')}@example.com`);
		const tCalls = Date.now();
		const responses = await Promise.all(emails.map((email) => client.callWebhook(path, { body: { email } })));
		const callsMs = Date.now() - tCalls;
		expect(responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text.slice(0, 200)}`)).toEqual([]);

		const { executions, lagging } = await finishedExecutionsOf(q, workflow.id, USERS, { where: (e: Execution) => e.mode === 'webhook' });
		if (lagging.length) process.stderr.write(`[queue] REST API lists ${lagging.join(', ')} as unfinished although the worker logged it finished\n`);
		const doneMs = Date.now() - tCalls;
		expect(executions).toHaveLength(USERS);
		expect(executions.filter((e) => e.status === 'error' || e.status === 'crashed').map((e) => `${e.id}: ${e.status}`)).toEqual([]);

		// every execution ran on a worker (main only enqueued), and both workers took some
		const byWorker = q.executionsByWorker();
		const ids = executions.map((e) => String(e.id));
		const ranOn = ids.map((id) => q.workerOfExecution(id));
		expect(ranOn.filter((w) => w === undefined)).toEqual([]);
		const perWorker = byWorker.map((_, i) => ranOn.filter((w) => w === i).length);
		expect(perWorker.every((n) => n > 0)).toBe(true);
		for (const { started, finished } of byWorker) expect(new Set(finished)).toEqual(new Set(started));
		expect(q.main.logTail(100000)).not.toMatch(/Worker started execution/);

		// TikTok got every user: distinct hashed ids in accepted mapping requests, and the audience holds them all.
		// (Wait for Delivery is Auto: in queue mode the executions return at once and their users go when the 1 s
		// window ends, from whichever worker dispatches first.)
		const { mapping, distinct, rows } = await waitFor(
			`all ${USERS} users at the local TikTok API`,
			async () => {
				const requests = await q.tiktokRequests({ path: 'segment/mapping/' });
				const accepted = acceptedIds(requests);
				return accepted.distinct.size >= USERS ? { mapping: requests, ...accepted } : undefined;
			},
			{ timeoutMs: 60_000, intervalMs: 250 },
		);
		expect(distinct.size).toBe(USERS);
		for (const email of emails) expect(distinct.has(`EMAIL_SHA256:${sha256(email)}`)).toBe(true);
		const stats = await tiktok!.control.stats();
		const audiences = stats.audiences.filter((a) => a.name === AUDIENCE);
		// Workers resolving the name at once make one audience (a lock in Redis: before it, n8n 1.x made two).
		expect(audiences).toHaveLength(1);
		const members = new Set((await Promise.all(audiences.map((a) => tiktok!.control.members(a.id)))).flatMap((m) => m.members));
		expect(members.size).toBe(USERS);

		const synced = executions.reduce((sum, e) => sum + (nodeRuns(e, 'TikTok Batch Sync').length ? Number(nodeOutput(e, 'TikTok Batch Sync', { output: 0 })[0]?.synced ?? 0) : 0), 0);
		const all = await q.tiktokRequests();
		process.stderr.write(
			`[queue] ${USERS} webhook calls answered in ${callsMs} ms, all ${USERS} executions finished after ${doneMs} ms; ` +
				`per worker ${perWorker.join(' / ')}; ${mapping.length} mapping requests (${rows} rows accepted, ${distinct.size} distinct ids), ` +
				`${audiences.length} audience(s) named "${AUDIENCE}", metrics synced ${synced}; ` +
				`max ${maxPerSlidingWindow(all)} API requests in a sliding second (TikTok saw ${stats.maxAttemptedPerSecond}); ` +
				`package-prefix keys in Redis: ${(await q.redisKeys(q.packagePrefix)).length}\n`,
		);
	});
});
