/**
 * jest globalSetup for the e2e suite (jest.e2e.config.js): one n8n for all test files.
 * Provision (if needed) → build + pack + install this package into a fresh user folder → start n8n on a free
 * port → owner + API key → state file (see shared.ts). Env: N8N_E2E_MAJOR (1|2), N8N_E2E_KEEP=1 keeps the temp
 * folder, N8N_E2E_BUILD (auto|always|never), N8N_E2E_LOG_LEVEL (n8n's log level, default info).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { N8nClient } from './client';
import { killRegisteredGroups, startN8n, type N8nInstance } from './n8n';
import { packAndInstall } from './package';
import { getRuntime, selectedMajor } from './runtime';
import { readSharedState, STATE_ENV, writeSharedState } from './shared';

export default async function globalSetup(): Promise<void> {
	const t0 = Date.now();
	const major = selectedMajor();
	const log = (message: string) => process.stderr.write(`[e2e] ${message} (+${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
	process.stderr.write('\n');

	const runtime = getRuntime(major);
	log(`n8n ${runtime.n8nVersion} on ${runtime.node}`);
	const tProvision = Date.now() - t0;

	const workDir = mkdtempSync(join(tmpdir(), `n8n-tiktok-e2e-${major}-`));
	const userFolder = join(workDir, 'home');
	const installed = packAndInstall(userFolder);
	log(`packed ${installed.name}@${installed.version} (${installed.files.length} files) and installed it into ${installed.nodesDir}`);
	const tPackage = Date.now() - t0 - tProvision;

	const stateFile = join(workDir, 'state.json');
	process.env[STATE_ENV] = stateFile; // also makes n8n.ts record pids under <workDir>/pids
	let n8n: N8nInstance | undefined;
	try {
		n8n = await startN8n({ majorVersion: major, userFolder });
		log(`n8n ready at ${n8n.baseUrl} in ${(n8n.lastStartupMs / 1000).toFixed(1)} s (log ${n8n.logFile})`);
		const client = new N8nClient(n8n.baseUrl);
		const owner = await client.setupOwner();
		const apiKey = await client.createApiKey('e2e');
		writeSharedState(stateFile, {
			config: n8n.config,
			pid: n8n.pid,
			baseUrl: n8n.baseUrl,
			n8nVersion: n8n.n8nVersion,
			workDir,
			owner,
			cookie: client.cookie!,
			apiKey,
			package: installed,
			timings: { provisionMs: tProvision, packageMs: tPackage, startupMs: n8n.lastStartupMs, globalSetupMs: Date.now() - t0 },
		});
		killSharedN8nOnAbort(workDir);
	} catch (error) {
		await n8n?.stop().catch(() => undefined);
		throw error;
	}
}

/**
 * If jest dies without running globalTeardown (Ctrl-C, a closed pipe), the shared n8n (its own process group,
 * possibly restarted by a test with a new pid) must not live on.
 */
function killSharedN8nOnAbort(workDir: string): void {
	const kill = () => {
		try {
			const { pid } = readSharedState();
			if (pid) process.kill(-pid, 'SIGKILL');
		} catch {
			// already stopped, or no state
		}
		killRegisteredGroups(workDir);
	};
	process.once('exit', kill);
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, () => {
			kill();
			process.stderr.write(`[e2e] ${signal}: killed the shared n8n; its files stay in ${workDir}\n`);
			process.exit(130);
		});
	}
}
