/**
 * The published package loads in a real n8n: the tarball from `npm pack`, installed into <user>/.n8n/nodes like a
 * user installs a community package, registers both nodes and both credentials under their real type names.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { exampleFiles, importExample } from './lib/examples';
import { useSharedN8n, type SharedN8n } from './lib/shared';
import { tikTokApiCredentialData } from './lib/tiktok';

const PACKAGE = 'n8n-nodes-tiktok-audience-sync';
const NODE_TYPES = [`${PACKAGE}.tikTokAudience`, `${PACKAGE}.tikTokBatchSync`];
const CREDENTIAL_TYPES = ['tikTokBusinessOAuth2Api', 'tikTokBusinessApi'];

describe(`package loads in n8n (N8N_E2E_MAJOR=${process.env.N8N_E2E_MAJOR ?? '2'})`, () => {
	let shared: SharedN8n;

	beforeAll(() => {
		shared = useSharedN8n();
	});

	it('runs the pinned n8n version', async () => {
		expect(shared.n8n.isRunning()).toBe(true);
		const settings = await shared.client.settings();
		expect(settings.versionCli).toBe(shared.state.n8nVersion);
	});

	it('was installed from the packed tarball with its runtime dependencies and without a second n8n-workflow', () => {
		const { nodesDir, packageDir, files } = shared.state.package;
		expect(files).toEqual(expect.arrayContaining(['package.json']));
		expect(files.some((file) => file.startsWith('dist/'))).toBe(true);
		expect(files.some((file) => /\.ts$/.test(file) && !file.endsWith('.d.ts'))).toBe(false);
		expect(existsSync(join(packageDir, 'package.json'))).toBe(true);
		for (const dependency of ['axios', 'limiter', 'zod']) {
			expect(existsSync(join(nodesDir, 'node_modules', dependency, 'package.json'))).toBe(true);
		}
		expect(existsSync(join(nodesDir, 'node_modules', 'n8n-workflow'))).toBe(false);
		expect(existsSync(join(packageDir, 'node_modules', 'n8n-workflow'))).toBe(false);
	});

	it('registers both nodes under the package name', async () => {
		const names = (await shared.client.getNodeTypes()).map((type) => type.name);
		expect(names).toEqual(expect.arrayContaining(NODE_TYPES));
	});

	it('registers both credential types', async () => {
		const names = (await shared.client.getCredentialTypes()).map((type) => type.name);
		expect(names).toEqual(expect.arrayContaining(CREDENTIAL_TYPES));
	});

	it('imports every examples/*.json, with only node types this n8n knows, pointed at a credential', async () => {
		const { client } = shared;
		const files = exampleFiles();
		expect(files.length).toBeGreaterThanOrEqual(2);
		const known = new Map<string, Array<number | number[]>>();
		for (const type of await client.getNodeTypes()) known.set(type.name, [...(known.get(type.name) ?? []), type.version]);
		// never contacted: the examples are only imported here
		const credential = await client.createCredential({
			name: 'load: TikTok (examples)',
			type: 'tikTokBusinessApi',
			data: tikTokApiCredentialData('http://127.0.0.1:9'),
		});
		for (const file of files) {
			const { workflow: created, input } = await importExample(client, file, { id: credential.id, name: credential.name, type: 'tikTokBusinessApi' });
			const stored = await client.getWorkflow(created.id);
			expect({ file, nodes: stored.nodes.length }).toEqual({ file, nodes: input.nodes.length });
			for (const node of stored.nodes) {
				const versions = (known.get(node.type) ?? []).flat();
				expect({ file, node: node.name, type: node.type, known: versions.includes(node.typeVersion) }).toEqual({
					file,
					node: node.name,
					type: node.type,
					known: true,
				});
				if (node.type.startsWith(`${PACKAGE}.`)) {
					expect(node.credentials).toEqual({ tikTokBusinessApi: { id: credential.id, name: credential.name } });
				}
			}
			expect(stored.nodes.some((node) => node.type.startsWith(`${PACKAGE}.`))).toBe(true);
		}
	});

	it('logged no load errors for the package', () => {
		const log = shared.n8n.logTail(100_000);
		const problems = log.split('\n').filter((line) => line.includes(PACKAGE) && /error|fail|could not|skipp/i.test(line));
		expect(problems).toEqual([]);
	});
});
