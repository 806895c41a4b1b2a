/**
 * `npm run dev [-- --n8n 1] [-- --restart-on-change]`: a real n8n with this package, for development.
 *
 * 1. provisions n8n (scripts/provision-n8n.sh; n8n 2.41.1 on Node 24 unless --n8n 1),
 * 2. builds the package and symlinks the working tree into <dev home>/.n8n/nodes/node_modules/<package>,
 * 3. runs `tsc --watch`; n8n runs with N8N_DEV_RELOAD=true and reloads the package when dist/ changes
 *    (with --restart-on-change, or when hot reload is unavailable, n8n is restarted instead),
 * 4. starts the local TikTok API on 127.0.0.1:8787 and n8n on 127.0.0.1:5678,
 * 5. once: creates a demo owner, an API key, a `tikTokBusinessApi` credential pointing at the local TikTok API,
 *    and imports every workflow in examples/*.json,
 * 6. prints the editor URL and login. Ctrl-C stops everything it started.
 *
 * Environment: N8N_TIKTOK_DEV_HOME (default ~/.n8n-tiktok-dev), N8N_DEV_PORT (5678), TIKTOK_LOCAL_PORT (8787),
 * N8N_TIKTOK_CACHE (provisioning cache), N8N_E2E_MAJOR (1|2).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, watch, writeFileSync, openSync, readSync, closeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { N8nClient, N8nHttpError, type OwnerAccount } from '../test/e2e/lib/client';
import { EXAMPLES_DIR, exampleFiles, readExample, useCredential } from '../test/e2e/lib/examples';
import { startN8n, type N8nInstance } from '../test/e2e/lib/n8n';
import { freePort } from '../test/e2e/lib/net';
import { linkPackage } from '../test/e2e/lib/package';
import { PROVISION_SCRIPT, REPO_DIR, type N8nMajor } from '../test/e2e/lib/runtime';
import { startTikTok, tikTokApiCredentialData, type TikTokLocal } from '../test/e2e/lib/tiktok';

const DEV_HOME = process.env.N8N_TIKTOK_DEV_HOME || join(homedir(), '.n8n-tiktok-dev');
const N8N_PORT = Number(process.env.N8N_DEV_PORT || 5678);
const TIKTOK_PORT = Number(process.env.TIKTOK_LOCAL_PORT || 8787);
const STATE_FILE = join(DEV_HOME, 'dev-state.json');

export const DEMO_OWNER: OwnerAccount = {
	email: 'demo@example.com',
	password: 'DemoPassw0rd!',
	firstName: 'Demo',
	lastName: 'Developer',
};
/** The dev credential (data comes from tikTokApiCredentialData in test/e2e/lib/tiktok.ts). */
const DEV_CREDENTIAL = { name: 'TikTok (local dev API)', type: 'tikTokBusinessApi' };

interface DevState {
	apiKey?: string;
	credentialId?: string;
	/** examples/<file> → workflow id */
	workflows: Record<string, string>;
}

const args = process.argv.slice(2);
const argValue = (name: string) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.split('=')[1];
};
const MAJOR = Number(argValue('--n8n') ?? process.env.N8N_E2E_MAJOR ?? 2) as N8nMajor;
let restartOnChange = args.includes('--restart-on-change');

const say = (message: string) => process.stdout.write(`[dev] ${message}\n`);

const children: ChildProcess[] = [];
let n8n: N8nInstance | undefined;
let tiktok: TikTokLocal | undefined;
let shuttingDown = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
	if (child.pid === undefined || child.exitCode !== null) return;
	try {
		process.kill(-child.pid, signal);
	} catch {
		// gone
	}
}

async function shutdown(code: number): Promise<never> {
	if (shuttingDown) process.exit(code);
	shuttingDown = true;
	say('stopping…');
	for (const child of children) killGroup(child, 'SIGTERM');
	await Promise.allSettled([n8n?.stop(15_000), tiktok?.close()]);
	for (const child of children) killGroup(child, 'SIGKILL');
	say('stopped');
	process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
process.on('exit', () => {
	// last resort (e.g. an uncaught error): no orphaned process groups
	for (const child of children) killGroup(child, 'SIGKILL');
	const pid = n8n?.pid;
	if (pid) {
		try {
			process.kill(-pid, 'SIGKILL');
		} catch {
			// gone
		}
	}
});

function run(command: string, commandArgs: string[], what: string): void {
	const result = spawnSync(command, commandArgs, { cwd: REPO_DIR, stdio: 'inherit' });
	if (result.status !== 0) throw new Error(`${what} failed (exit ${result.status})`);
}

function readState(): DevState {
	if (!existsSync(STATE_FILE)) return { workflows: {} };
	return { workflows: {}, ...JSON.parse(readFileSync(STATE_FILE, 'utf8')) };
}

function writeState(state: DevState): void {
	writeFileSync(STATE_FILE, JSON.stringify(state, null, 2));
}

/** Stream n8n's log file to the console with a prefix. */
function tailLog(file: string): void {
	let offset = existsSync(file) ? statSync(file).size : 0;
	const timer = setInterval(() => {
		if (!existsSync(file)) return;
		const size = statSync(file).size;
		if (size < offset) offset = 0;
		if (size === offset) return;
		const fd = openSync(file, 'r');
		const buffer = Buffer.alloc(size - offset);
		readSync(fd, buffer, 0, buffer.length, offset);
		closeSync(fd);
		offset = size;
		const text = buffer.toString('utf8').replace(/\n$/, '');
		if (text) process.stdout.write(text.split('\n').map((line) => `[n8n] ${line}`).join('\n') + '\n');
	}, 500);
	timer.unref();
}

async function login(client: N8nClient): Promise<void> {
	const settings = await client.settings();
	const needsOwner = settings.userManagement?.showSetupOnFirstLoad === true;
	if (needsOwner) {
		await client.setupOwner(DEMO_OWNER);
		say(`created the demo owner ${DEMO_OWNER.email}`);
	} else {
		try {
			await client.login(DEMO_OWNER.email, DEMO_OWNER.password);
			say(`logged in as the demo owner ${DEMO_OWNER.email}`);
		} catch (error) {
			throw new Error(`cannot log in as ${DEMO_OWNER.email} (password changed?). Delete ${DEV_HOME} to start over. ${(error as Error).message}`);
		}
	}
}

async function ensureApiKey(client: N8nClient, state: DevState): Promise<void> {
	if (state.apiKey) {
		client.apiKey = state.apiKey;
		try {
			await client.api('GET', '/workflows?limit=1');
			return;
		} catch {
			// revoked or a new database: create another
		}
	}
	state.apiKey = await client.createApiKey('npm run dev');
	writeState(state);
}

async function ensureCredential(client: N8nClient, state: DevState, tiktokUrl: string): Promise<string> {
	if (state.credentialId) {
		try {
			await client.getCredential(state.credentialId, false);
			return state.credentialId;
		} catch (error) {
			if (!(error instanceof N8nHttpError && (error.status === 404 || error.status === 403))) throw error;
		}
	}
	const credential = await client.createCredential({ ...DEV_CREDENTIAL, data: tikTokApiCredentialData(tiktokUrl) });
	state.credentialId = credential.id;
	writeState(state);
	say(`created credential "${DEV_CREDENTIAL.name}" (${DEV_CREDENTIAL.type}) → ${tiktokUrl}`);
	return credential.id;
}

async function importExamples(client: N8nClient, state: DevState, credentialId: string): Promise<void> {
	if (!existsSync(EXAMPLES_DIR)) return;
	for (const file of exampleFiles()) {
		if (state.workflows[file]) continue;
		// every TikTok credential reference → the dev credential (shared with the e2e suite: test/e2e/lib/examples.ts)
		const workflow = useCredential(readExample(file), { ...DEV_CREDENTIAL, id: credentialId });
		try {
			const created = await client.createWorkflow(workflow);
			state.workflows[file] = created.id;
			writeState(state);
			say(`imported examples/${file} → workflow ${created.id} "${workflow.name}"`);
		} catch (error) {
			say(`could not import examples/${file}: ${(error as Error).message}`);
		}
	}
}

function watchDistForRestart(): void {
	const dist = join(REPO_DIR, 'dist');
	let timer: NodeJS.Timeout | undefined;
	let restarting = false;
	const restart = async () => {
		if (restarting || !n8n || shuttingDown) return;
		restarting = true;
		say('dist/ changed: restarting n8n');
		try {
			await n8n.restart();
			say(`n8n restarted in ${(n8n.lastStartupMs / 1000).toFixed(1)} s`);
		} catch (error) {
			say(`n8n restart failed: ${(error as Error).message}`);
		} finally {
			restarting = false;
		}
	};
	watch(dist, { recursive: true }, () => {
		clearTimeout(timer);
		timer = setTimeout(() => void restart(), 1500);
	});
}

async function main(): Promise<void> {
	const t0 = Date.now();
	say(`n8n ${MAJOR === 1 ? '1.123.81 (system Node)' : '2.41.1 (Node 24)'}; dev home ${DEV_HOME}`);
	run('bash', [PROVISION_SCRIPT, '--n8n', String(MAJOR)], 'provisioning');
	say('building the package');
	run('npm', ['run', 'build'], 'npm run build');
	const link = linkPackage(DEV_HOME);
	say(`linked ${link} → ${REPO_DIR}`);

	const tsc = spawn(join(REPO_DIR, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json', '--watch', '--preserveWatchOutput'], {
		cwd: REPO_DIR,
		stdio: ['ignore', 'inherit', 'inherit'],
		detached: true,
	});
	children.push(tsc);

	tiktok = await startTikTok({ port: TIKTOK_PORT });
	say(`local TikTok API on ${tiktok.url}`);

	mkdirSync(DEV_HOME, { recursive: true });
	const logFile = join(DEV_HOME, 'n8n.log');
	tailLog(logFile);
	n8n = await startN8n({
		majorVersion: MAJOR,
		userFolder: DEV_HOME,
		port: N8N_PORT,
		runnersBrokerPort: await freePort(),
		logFile,
		env: { N8N_DEV_RELOAD: restartOnChange ? undefined : 'true' },
	});
	say(`n8n ready in ${(n8n.lastStartupMs / 1000).toFixed(1)} s`);
	if (!restartOnChange && /hot reload is unavailable/.test(n8n.logTail(400))) {
		say('n8n hot reload is unavailable here: restarting n8n on dist/ changes instead');
		restartOnChange = true;
	}
	if (restartOnChange) watchDistForRestart();

	const client = new N8nClient(n8n.baseUrl);
	await login(client);
	const state = readState();
	await ensureApiKey(client, state);
	const credentialId = await ensureCredential(client, state, tiktok.url);
	await importExamples(client, state, credentialId);

	process.stdout.write(
		[
			'',
			'────────────────────────────────────────────────────────────────────────',
			`  n8n editor:      ${n8n.baseUrl}/`,
			`  login:           ${DEMO_OWNER.email} / ${DEMO_OWNER.password}`,
			`  credential:      "${DEV_CREDENTIAL.name}" (${DEV_CREDENTIAL.type}, id ${credentialId})`,
			`  local TikTok:    ${tiktok.url}  (control: ${tiktok.url}/__local/stats)`,
			`  n8n log:         ${logFile}`,
			`  reload:          ${restartOnChange ? 'n8n restarts when dist/ changes' : 'N8N_DEV_RELOAD (n8n reloads the package when dist/ changes)'}`,
			`  ready in ${((Date.now() - t0) / 1000).toFixed(0)} s. Ctrl-C stops n8n, tsc --watch and the local TikTok API.`,
			'────────────────────────────────────────────────────────────────────────',
			'',
		].join('\n'),
	);
}

main().catch(async (error: unknown) => {
	process.stderr.write(`[dev] ${error instanceof Error ? error.message : String(error)}\n`);
	await shutdown(1);
});
