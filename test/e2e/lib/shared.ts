/**
 * One n8n for the whole e2e run: jest's globalSetup (global-setup.ts) provisions, packs + installs this package,
 * starts n8n, sets up the owner and an API key, and writes this state file; every test file attaches to it with
 * `useSharedN8n()`. Test files run in band (one at a time), so a test may also kill/restart the shared instance:
 * the handle records the new pid in the state file and globalTeardown stops whatever runs at the end.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

import { N8nClient, type OwnerAccount } from './client';
import { attachN8n, type N8nInstance, type N8nInstanceConfig } from './n8n';
import type { InstalledPackage } from './package';

export interface SharedState {
	config: N8nInstanceConfig;
	pid: number | undefined;
	baseUrl: string;
	n8nVersion: string;
	/** Temp folder of the run (user folder, logs); removed by globalTeardown unless N8N_E2E_KEEP=1. */
	workDir: string;
	owner: OwnerAccount;
	cookie: string;
	apiKey: string;
	package: InstalledPackage;
	timings: Record<string, number>;
}

export const STATE_ENV = 'N8N_E2E_STATE_FILE';

export function stateFile(): string {
	const file = process.env[STATE_ENV];
	if (!file || !existsSync(file)) {
		throw new Error(`no shared n8n (${STATE_ENV} unset or missing): run through jest -c jest.e2e.config.js (npm run test:e2e)`);
	}
	return file;
}

export function readSharedState(): SharedState {
	return JSON.parse(readFileSync(stateFile(), 'utf8')) as SharedState;
}

export function writeSharedState(file: string, state: SharedState): void {
	writeFileSync(file, JSON.stringify(state, null, 2));
}

export interface SharedN8n {
	/** Process handle: stop/kill/restart keep the state file's pid current. */
	n8n: N8nInstance;
	/** Logged in as the owner (cookie) and holding an API key. */
	client: N8nClient;
	state: SharedState;
}

/** Attach to the run's shared n8n. */
export function useSharedN8n(): SharedN8n {
	const file = stateFile();
	const state = readSharedState();
	// stop/kill/restart record the current pid at once, so an aborted run can still kill a restarted n8n
	const n8n = attachN8n(state.config, state.pid, (pid) => {
		const current = readSharedState();
		current.pid = pid;
		writeSharedState(file, current);
	});
	const client = new N8nClient(state.baseUrl, { cookie: state.cookie, apiKey: state.apiKey });
	return { n8n, client, state };
}
