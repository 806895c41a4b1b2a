/**
 * Mirror List in queue mode: examples/nightly-mirror.json with its schedule swapped for a webhook (production runs go
 * to the workers), a PostgreSQL table of customers, main + 2 workers + Redis. The memory lives in Redis under the
 * package prefix, so a mirror run on one worker continues what a run on the other remembered:
 * 1. only worker 1 is up: the first mirror adds everyone;
 * 2. only worker 2 is up: the next mirror sends only the changes;
 * 3. both are up, two mirror runs of the same list at once (most likely one per worker): the Redis lock makes them
 *    take turns, the changes are sent once, and the audience equals the table after each;
 * 4. the worker running a mirror is SIGKILLed while TikTok holds its first request: once its Redis lock's lease runs
 *    out, the next run sends what was cut short and the audience equals the table.
 */
import { randomBytes } from 'node:crypto';

import { nodeNamed } from '../lib/examples';
import { createCustomersTable, customer, expectedMembers, importNightlyMirror, MIRROR_AUDIENCE, writeCustomers, type Customer } from '../lib/mirrorList';
import { startQueueTopology, type QueueTopology } from '../lib/queueMode';
import { selectedMajor } from '../lib/runtime';
import { webhookTrigger } from '../lib/workflow';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

describe(`Mirror List in queue mode (n8n ${selectedMajor()}): memory in Redis, runs on different workers`, () => {
	let q: QueueTopology;
	let workflowId: string | undefined;
	const path = `mirror-${randomBytes(3).toString('hex')}`;
	let customers: Customer[] = [];
	const t0 = Date.now();

	async function writeTable(rows: Customer[]): Promise<void> {
		customers = rows;
		await writeCustomers(q.dbName, rows);
	}

	/** One mirror run through the webhook: its summary and the worker that ran it. */
	async function mirrorOnce(): Promise<{ summary: Record<string, unknown>; worker: number | undefined }> {
		const before = q.executionsByWorker().map((worker) => worker.started.length);
		const response = await q.client.callWebhook(path, { body: {}, timeoutMs: 60_000 });
		expect(response.status).toBe(200);
		const summary = (response.body as { tiktokMirror: Record<string, unknown> }).tiktokMirror;
		const after = q.executionsByWorker().map((worker) => worker.started.length);
		return { summary, worker: after.findIndex((count, index) => count > before[index]) };
	}

	async function audienceMembers(): Promise<string[]> {
		const stats = await q.tiktok!.control.stats();
		const audience = stats.audiences.find((entry) => entry.name === MIRROR_AUDIENCE && !entry.deleted);
		if (!audience) throw new Error(`no audience "${MIRROR_AUDIENCE}"`);
		return (await q.tiktok!.control.members(audience.id)).members.sort();
	}

	beforeAll(async () => {
		q = await startQueueTopology({ major: selectedMajor(), workers: 2, label: 'mirror', tiktok: true });
		await createCustomersTable(q.dbName);
		const workflow = await importNightlyMirror(q.client, q.tiktok!.url, q.dbName, (wf) => {
			const schedule = nodeNamed(wf, 'Every Night');
			const hook = webhookTrigger(path, { name: 'Mirror Now', responseMode: 'lastNode' });
			hook.position = schedule.position;
			wf.nodes = wf.nodes.map((n) => (n === schedule ? hook : n));
			wf.connections['Mirror Now'] = wf.connections['Every Night'];
			delete wf.connections['Every Night'];
		});
		workflowId = workflow.id;
		expect((await q.client.activateWorkflow(workflowId)).active).toBe(true);
		await q.client.waitForWebhookRegistered(path);
	});

	afterAll(async () => {
		if (!q) return;
		if (workflowId) await q.client.deactivateWorkflow(workflowId).catch(() => undefined);
		const odd = q.oddWorkerLogLines();
		if (odd.length) process.stderr.write(`[queue] worker log lines worth a look (${odd.length}):\n${odd.slice(0, 30).join('\n')}\n`);
		await q.stop();
		process.stderr.write(`[queue] mirror file ${seconds(Date.now() - t0)}; logs in ${q.artifactsDir}\n`);
	});

	it('worker 1 alone: the first mirror adds every paying customer; the memory is in Redis', async () => {
		await q.workers[1].stop();
		await writeTable([...Array.from({ length: 30 }, (_, n) => customer(n)), customer(90, false)]);
		const { summary, worker } = await mirrorOnce();
		expect(worker).toBe(0);
		expect(summary).toMatchObject({ firstRun: true, members: 30, added: 30, removed: 0, remembered: 30 });
		expect(String(summary.memory)).toContain(`keys under ${q.packagePrefix}:`);
		expect(await audienceMembers()).toEqual(expectedMembers(customers));
		expect((await q.redisKeys(`${q.packagePrefix}:{mirror:`)).length).toBeGreaterThan(0);
	});

	it('worker 2 alone: the next mirror continues from what worker 1 remembered and sends only the changes', async () => {
		await q.workers[1].start();
		await q.workers[0].stop();
		const rows = customers.map((row) => ({ ...row }));
		rows[0].paying = false;
		rows[1].paying = false;
		rows.push(customer(100), customer(101), customer(102));
		await writeTable(rows);
		const requestsBefore = (await q.tiktok!.control.stats()).usersReceived;
		const { summary, worker } = await mirrorOnce();
		expect(worker).toBe(1);
		expect(summary).toMatchObject({ firstRun: false, unchanged: 28, added: 3, removed: 2, remembered: 31 });
		expect((await q.tiktok!.control.stats()).usersReceived - requestsBefore).toBe(5);
		expect(await audienceMembers()).toEqual(expectedMembers(customers));
	});

	it('both workers, two runs at once: they take turns on the Redis lock and the changes go out once', async () => {
		await q.workers[0].start();
		const rows = customers.map((row) => ({ ...row }));
		rows[5].paying = false;
		rows.push(customer(200));
		await writeTable(rows);
		const requestsBefore = (await q.tiktok!.control.stats()).usersReceived;
		const startedBefore = q.executionsByWorker().map((worker) => worker.started.length);
		const runs = await Promise.all([mirrorOnce(), mirrorOnce()]);
		const summaries = runs.map((run) => run.summary);
		const perWorker = q.executionsByWorker().map((worker, index) => worker.started.length - startedBefore[index]);
		process.stderr.write(`[queue] the two concurrent mirrors: ${perWorker.map((n, index) => `worker ${index + 1} ran ${n}`).join(', ')}\n`);
		// One of them sent the two changes; the other found nothing left to do.
		expect(summaries.map((summary) => Number(summary.added) + Number(summary.removed)).sort()).toEqual([0, 2]);
		expect(summaries.every((summary) => summary.remembered === 31 && summary.errored === 0)).toBe(true);
		expect((await q.tiktok!.control.stats()).usersReceived - requestsBefore).toBe(2);
		expect(await audienceMembers()).toEqual(expectedMembers(customers));
	});

	it('the worker running a mirror is SIGKILLed while it sends: a later run (after the lock lease) makes the audience equal the table', async () => {
		const rows = customers.map((row) => ({ ...row }));
		rows.filter((row) => row.paying).slice(0, 2).forEach((row) => (row.paying = false));
		rows.push(customer(300), customer(301), customer(302));
		await writeTable(rows);
		// TikTok is slow to answer the first request (the removal): the worker dies while it waits.
		await q.tiktok!.control.injectFault({ pathIncludes: 'segment/mapping', delayMs: 4_000, count: 1 });
		const mappingBefore = (await q.tiktok!.control.stats()).byPath['segment/mapping/'] ?? 0;
		const startedBefore = q.executionsByWorker().map((worker) => worker.started.length);
		const cutShort = q.client.callWebhook(path, { body: {}, timeoutMs: 240_000 }).catch(() => undefined);
		const deadline = Date.now() + 30_000;
		while (((await q.tiktok!.control.stats()).byPath['segment/mapping/'] ?? 0) === mappingBefore) {
			if (Date.now() > deadline) throw new Error('the mirror sent no request');
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		const victim = q.executionsByWorker().findIndex((worker, index) => worker.started.length > startedBefore[index]);
		expect(victim).toBeGreaterThanOrEqual(0);
		await q.workers[victim].kill();
		await q.tiktok!.control.clearFaults();
		expect(await audienceMembers()).not.toEqual(expectedMembers(customers)); // the adds never went out
		await q.workers[victim].start();

		// The dead worker's Redis lock runs out (30 s lease); the removal it had written down unconfirmed is sent again.
		const { summary } = await mirrorOnce();
		expect(summary).toMatchObject({ errored: 0, unconfirmed: 0, remembered: 32 });
		expect(await audienceMembers()).toEqual(expectedMembers(customers));
		const again = await mirrorOnce();
		expect(again.summary).toMatchObject({ added: 0, removed: 0, unchanged: 32, requests: 0 });
		void cutShort;
	});
});
