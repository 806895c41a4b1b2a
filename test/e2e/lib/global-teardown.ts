/** jest globalTeardown: stop the shared n8n (whatever pid it has now), keep its log under e2e-artifacts/. */
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { attachN8n, killRegisteredGroups } from './n8n';
import { REPO_DIR } from './runtime';
import { readSharedState, STATE_ENV, writeSharedState } from './shared';

export default async function globalTeardown(): Promise<void> {
	const file = process.env[STATE_ENV];
	if (!file || !existsSync(file)) return;
	const state = readSharedState();
	const instance = attachN8n(state.config, state.pid);
	await instance.stop();
	writeSharedState(file, { ...state, pid: undefined });
	killRegisteredGroups(state.workDir); // instances a test file started and did not stop
	const artifacts = join(REPO_DIR, 'e2e-artifacts');
	mkdirSync(artifacts, { recursive: true });
	if (existsSync(state.config.logFile)) copyFileSync(state.config.logFile, join(artifacts, `n8n-${state.config.majorVersion}.log`));
	rmSync(dirname(state.package.tarball), { recursive: true, force: true });
	if (process.env.N8N_E2E_KEEP === '1') {
		process.stderr.write(`[e2e] kept ${state.workDir} (N8N_E2E_KEEP=1)\n`);
	} else {
		rmSync(state.workDir, { recursive: true, force: true });
	}
}
