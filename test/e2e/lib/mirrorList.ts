/**
 * For the Mirror List e2e files (regular and queue mode): a customers table in PostgreSQL, examples/nightly-mirror.json
 * pointed at it and at the local TikTok API, and what the audience must hold for a table.
 */
import { createHash } from 'node:crypto';

import type { N8nClient, Workflow, WorkflowInput } from './client';
import { importExample, nodeNamed } from './examples';
import { psql } from './queueMode';
import { tikTokApiCredentialData } from './tiktok';

export const MIRROR_AUDIENCE = 'n8n: Paying customers (suppression)';
export const MIRROR_NODE = 'Mirror to TikTok';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export interface Customer {
	email: string;
	phone: string | null;
	paying: boolean;
}

/** Customer n: an email as people type it, a San Francisco phone for two in three. */
export function customer(n: number, paying = true): Customer {
	return { email: ` Customer.${n}@Example.com`, phone: n % 3 === 0 ? null : `(415) 555-${String(1000 + n)}`, paying };
}

/** What TikTok must hold for these customers: the paying ones' identifiers, normalised by TikTok's rules and hashed. */
export function expectedMembers(customers: Customer[]): string[] {
	const members = new Set<string>();
	for (const { email, phone, paying } of customers) {
		if (!paying) continue;
		const [local, domain] = email.trim().toLowerCase().split('@');
		members.add(`EMAIL_SHA256:${sha256(`${local.replace(/\./g, '')}@${domain}`)}`);
		if (phone) members.add(`PHONE_SHA256:${sha256(`+1415555${phone.slice(-4)}`)}`);
	}
	return [...members].sort();
}

export async function createCustomersTable(database: string): Promise<void> {
	await psql('CREATE TABLE customers (email text NOT NULL, phone text, paying boolean NOT NULL)', database);
}

/** Replaces the table's rows. */
export async function writeCustomers(database: string, rows: Customer[]): Promise<void> {
	const values = rows.map((row) => `('${row.email.replace(/'/g, "''")}', ${row.phone ? `'${row.phone}'` : 'NULL'}, ${row.paying})`).join(',\n');
	await psql(`TRUNCATE customers; INSERT INTO customers (email, phone, paying) VALUES ${values};`, database);
}

/** examples/nightly-mirror.json with credentials for the local TikTok API and `database`; `edit` may change it further. */
export async function importNightlyMirror(
	client: N8nClient,
	tiktokUrl: string,
	database: string,
	edit?: (workflow: WorkflowInput) => void,
): Promise<Workflow> {
	const tiktok = await client.createCredential({ name: 'mirror: TikTok (local)', type: 'tikTokBusinessApi', data: tikTokApiCredentialData(tiktokUrl) });
	const postgres = await client.createCredential({
		name: 'mirror: customers database',
		type: 'postgres',
		data: { host: '127.0.0.1', port: 5432, database, user: 'postgres', password: '', ssl: 'disable', sshTunnel: false },
	});
	const { workflow } = await importExample(client, 'nightly-mirror.json', { id: tiktok.id, name: tiktok.name, type: 'tikTokBusinessApi' }, (wf) => {
		nodeNamed(wf, 'Paying Customers').credentials = { postgres: { id: postgres.id, name: postgres.name } };
		edit?.(wf);
	});
	return workflow;
}
