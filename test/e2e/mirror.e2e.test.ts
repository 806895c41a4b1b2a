/**
 * examples/nightly-mirror.json in a real n8n (regular mode): a real PostgreSQL table of customers, read by n8n's own
 * Postgres node, mirrored into a TikTok audience three times while the table changes, with n8n SIGKILLed and started
 * again between the second and the third run. After each run the local TikTok API's audience holds exactly the
 * hashed emails and phones of the paying customers; the third run, after the restart, sends only what changed (the
 * memory on disk in n8n's user folder survived), and that memory holds no raw email or phone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { executionError, nodeOutput, type Execution } from './lib/client';
import { importExample, nodeNamed } from './lib/examples';
import { createDatabase, dropDatabase, psql } from './lib/queueMode';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { startTikTok, tikTokApiCredentialData, type TikTokLocal } from './lib/tiktok';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const AUDIENCE = 'n8n: Paying customers (suppression)';
const MIRROR = 'Mirror to TikTok';

interface Customer {
	email: string;
	phone: string | null;
	paying: boolean;
}

/** Customer n: an email as people type it, a US phone for most. */
function customer(n: number, paying = true): Customer {
	return { email: ` Customer.${n}@Example.com`, phone: n % 3 === 0 ? null : `(415) 555-${String(1000 + n)}`, paying };
}

/** What TikTok must hold for these customers: the hashed, normalised identifiers of the paying ones. */
function expectedMembers(customers: Customer[]): string[] {
	const members = new Set<string>();
	for (const { email, phone, paying } of customers) {
		if (!paying) continue;
		const [local, domain] = email.trim().toLowerCase().split('@');
		members.add(`EMAIL_SHA256:${sha256(`${local.replace(/\./g, '')}@${domain}`)}`);
		if (phone) members.add(`PHONE_SHA256:${sha256(`+1415555${phone.slice(-4)}`)}`);
	}
	return [...members].sort();
}

describe('Mirror List: a nightly mirror of a PostgreSQL table in a real n8n, across a restart', () => {
	let shared: SharedN8n;
	let tiktok: TikTokLocal;
	const database = `n8n_e2e_mirror_${randomBytes(4).toString('hex')}`;
	let workflowId: string;
	let customers: Customer[] = [];

	async function writeTable(rows: Customer[]): Promise<void> {
		customers = rows;
		const values = rows.map((row) => `('${row.email.replace(/'/g, "''")}', ${row.phone ? `'${row.phone}'` : 'NULL'}, ${row.paying})`).join(',\n');
		await psql(`TRUNCATE customers; INSERT INTO customers (email, phone, paying) VALUES ${values};`, database);
	}

	async function mirrorOnce(): Promise<{ execution: Execution; summary: Record<string, unknown> }> {
		const execution = await shared.client.runAndWait(workflowId, { triggerNode: 'Every Night', timeoutMs: 60_000 });
		expect(executionError(execution)).toBeUndefined();
		expect(execution.status).toBe('success');
		return { execution, summary: nodeOutput(execution, MIRROR)[0].tiktokMirror as Record<string, unknown> };
	}

	function audienceMembers(): string[] {
		const audience = tiktok.stats().audiences.find((entry) => entry.name === AUDIENCE && !entry.deleted);
		if (!audience) throw new Error(`no audience "${AUDIENCE}"`);
		return tiktok.members(audience.id).sort();
	}

	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
		await createDatabase(database);
		await psql('CREATE TABLE customers (email text NOT NULL, phone text, paying boolean NOT NULL)', database);
		const { client } = shared;
		const tiktokCredential = await client.createCredential({ name: 'mirror: TikTok (local)', type: 'tikTokBusinessApi', data: tikTokApiCredentialData(tiktok.url) });
		const postgres = await client.createCredential({
			name: 'mirror: customers database',
			type: 'postgres',
			data: { host: '127.0.0.1', port: 5432, database, user: 'postgres', password: '', ssl: 'disable', sshTunnel: false },
		});
		const { workflow } = await importExample(client, 'nightly-mirror.json', { id: tiktokCredential.id, name: tiktokCredential.name, type: 'tikTokBusinessApi' }, (wf) => {
			nodeNamed(wf, 'Paying Customers').credentials = { postgres: { id: postgres.id, name: postgres.name } };
		});
		workflowId = workflow.id;
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
