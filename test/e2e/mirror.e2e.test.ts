/**
 * examples/nightly-mirror.json in a real n8n (regular mode): a real PostgreSQL table of customers, read by n8n's own
 * Postgres node, mirrored into a TikTok audience three times while the table changes, with n8n SIGKILLed and started
 * again between the second and the third run. After each run the local TikTok API's audience holds exactly the
 * hashed emails and phones of the paying customers; the third run, after the restart, sends only what changed (the
 * memory on disk in n8n's user folder survived), and that memory holds no raw email or phone. Then n8n is SIGKILLed
 * while a mirror waits for TikTok's answer to its first request: after the restart the next run sends the cut-short
 * changes (the removal again, as it was written down unconfirmed) and the audience equals the table.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { executionError, nodeOutput, type Execution } from './lib/client';
import { createCustomersTable, customer, expectedMembers, importNightlyMirror, MIRROR_AUDIENCE, MIRROR_NODE, writeCustomers, type Customer } from './lib/mirrorList';
import { createDatabase, dropDatabase } from './lib/queueMode';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { startTikTok, type TikTokLocal } from './lib/tiktok';

describe('Mirror List: a nightly mirror of a PostgreSQL table in a real n8n, across a restart', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;
	const database = `n8n_e2e_mirror_${randomBytes(4).toString('hex')}`;
	let workflowId: string;
	let customers: Customer[] = [];

	async function writeTable(rows: Customer[]): Promise<void> {
		customers = rows;
		await writeCustomers(database, rows);
	}

	async function mirrorOnce(): Promise<{ execution: Execution; summary: Record<string, unknown> }> {
		const execution = await shared.client.runAndWait(workflowId, { triggerNode: 'Every Night', timeoutMs: 60_000 });
		expect(executionError(execution)).toBeUndefined();
		expect(execution.status).toBe('success');
		return { execution, summary: nodeOutput(execution, MIRROR_NODE)[0].tiktokMirror as Record<string, unknown> };
	}

	function audienceMembers(): string[] {
		const audience = tiktok.stats().audiences.find((entry) => entry.name === MIRROR_AUDIENCE && !entry.deleted);
		if (!audience) throw new Error(`no audience "${MIRROR_AUDIENCE}"`);
		return tiktok.members(audience.id).sort();
	}

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
		await createDatabase(database);
		await createCustomersTable(database);
		workflowId = (await importNightlyMirror(shared.client, tiktok.url, database)).id;
	});

	afterAll(async () => {
		await tiktok?.close();
		await dropDatabase(database).catch(() => undefined);
	});

	it('first run: every paying customer is added, nobody removed, and the output says it was a first run', async () => {
		await writeTable([...Array.from({ length: 40 }, (_, n) => customer(n)), customer(100, false), customer(101, false)]);
		const { summary } = await mirrorOnce();
		expect(summary).toMatchObject({ firstRun: true, listed: 40, members: 40, added: 40, removed: 0, unchanged: 0, remembered: 40, safetyLimitHit: false });
		expect(audienceMembers()).toEqual(expectedMembers(customers));
	});

	it('second run: five stop paying, six start, two change phone: only those are sent', async () => {
		const mappingBefore = tiktok.stats().byPath['segment/mapping/'] ?? 0;
		const rows = customers.filter((row) => row.paying).map((row) => ({ ...row }));
		for (const row of rows.slice(0, 5)) row.paying = false;
		rows[10].phone = '(415) 555-9010';
		rows[11].phone = '(415) 555-9011';
		rows.push(...Array.from({ length: 6 }, (_, n) => customer(200 + n)));
		await writeTable(rows);
		const { summary } = await mirrorOnce();
		// 5 left; 2 changed a phone (their old tuple removed, the new one added: same email, so "identifiers changed")
		expect(summary).toMatchObject({ firstRun: false, members: 41, unchanged: 33, added: 8, removed: 7, identifiersChanged: 2, remembered: 41 });
		expect(tiktok.stats().byPath['segment/mapping/'] - mappingBefore).toBe(2);
		expect(audienceMembers()).toEqual(expectedMembers(customers));
	});

	it('n8n is killed and started again; the third run sends only what changed since the second', async () => {
		await shared.n8n.restart({ kill: true });
		const rows = customers.map((row) => ({ ...row }));
		rows.find((row) => row.paying)!.paying = false;
		rows.push(customer(300), customer(301));
		await writeTable(rows);
		const mappingBefore = tiktok.stats().usersReceived;
		const { summary } = await mirrorOnce();
		expect(summary).toMatchObject({ firstRun: false, added: 2, removed: 1, unchanged: 40, remembered: 42 });
		expect(tiktok.stats().usersReceived - mappingBefore).toBe(3);
		expect(audienceMembers()).toEqual(expectedMembers(customers));
	});

	it('n8n is SIGKILLed while a mirror sends; after the restart the next run finishes the job', async () => {
		const rows = customers.map((row) => ({ ...row }));
		rows.filter((row) => row.paying).slice(0, 3).forEach((row) => (row.paying = false));
		rows.push(customer(400), customer(401), customer(402), customer(403));
		await writeTable(rows);
		// TikTok is slow to answer the first request (the removal): n8n dies while it waits.
		tiktok.injectFault({ pathIncludes: 'segment/mapping', delayMs: 4_000, count: 1 });
		const mappingBefore = tiktok.stats().byPath['segment/mapping/'] ?? 0;
		await shared.client.runManually(workflowId, { triggerNode: 'Every Night' });
		const deadline = Date.now() + 30_000;
		while ((tiktok.stats().byPath['segment/mapping/'] ?? 0) === mappingBefore) {
			if (Date.now() > deadline) throw new Error('the mirror sent no request');
			await new Promise((resolve) => setTimeout(resolve, 20));
		}
		await shared.n8n.kill();
		tiktok.clearFaults();
		expect(audienceMembers()).not.toEqual(expectedMembers(customers)); // the adds never went out
		await shared.n8n.start();

		const { summary } = await mirrorOnce();
		// The removal was written down as unconfirmed before it went out: it is sent again with the adds.
		expect(summary).toMatchObject({ firstRun: false, removed: 3, added: 4, unconfirmed: 0, errored: 0, remembered: 43 });
		expect(audienceMembers()).toEqual(expectedMembers(customers));
		const again = await mirrorOnce();
		expect(again.summary).toMatchObject({ added: 0, removed: 0, unchanged: 43, requests: 0 });
	});

	it("the memory is in n8n's user folder, hashed only", () => {
		const root = join(shared.n8n.userFolder, '.n8n', 'tiktok-audience-sync', 'mirrors');
		const folders = readdirSync(root).filter((name) => statSync(join(root, name)).isDirectory());
		expect(folders).toHaveLength(1);
		const files = readdirSync(join(root, folders[0]));
		expect(files).toEqual(expect.arrayContaining(['about.json', 'snapshot.bin']));
		for (const file of files) {
			const content = readFileSync(join(root, folders[0], file)).toString('latin1');
			expect(content).not.toMatch(/example\.com|555/i);
		}
	});
});
