/**
 * Where the provisioned Node and n8n live. scripts/provision-n8n.sh installs them into a cache folder outside the
 * working tree and writes <cache>/n8n-<major>.json; this module reads that file (and can run the script).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export type N8nMajor = 1 | 2;

export interface N8nRuntime {
	major: N8nMajor;
	n8nVersion: string;
	cacheDir: string;
	/** The node binary that runs n8n (Node 24 for n8n 2, the system Node for n8n 1). */
	node: string;
	/** Directory of that node binary; put first on PATH for n8n's children (task runner). */
	nodeBinDir: string;
	/** n8n's bin script (a JS file): run as `node <n8nBin> start`. */
	n8nBin: string;
}

export const REPO_DIR = resolve(__dirname, '..', '..', '..');
export const PROVISION_SCRIPT = join(REPO_DIR, 'scripts', 'provision-n8n.sh');

export const EXPECTED_N8N_VERSION: Record<N8nMajor, string> = { 2: '2.41.1', 1: '1.123.81' };

export function cacheDir(): string {
	return process.env.N8N_TIKTOK_CACHE || join(homedir(), '.cache', 'n8n-tiktok-audience-sync');
}

/** The n8n major the e2e run targets: N8N_E2E_MAJOR (set by `npm run test:e2e -- --n8n 1`), default 2. */
export function selectedMajor(): N8nMajor {
	const raw = process.env.N8N_E2E_MAJOR ?? '2';
	if (raw === '1' || raw === '2') return Number(raw) as N8nMajor;
	throw new Error(`N8N_E2E_MAJOR must be 1 or 2, got "${raw}"`);
}

function readRuntimeFile(major: N8nMajor): N8nRuntime | undefined {
	const file = join(cacheDir(), `n8n-${major}.json`);
	if (!existsSync(file)) return undefined;
	const runtime = JSON.parse(readFileSync(file, 'utf8')) as N8nRuntime;
	if (runtime.n8nVersion !== EXPECTED_N8N_VERSION[major]) return undefined;
	if (!existsSync(runtime.node) || !existsSync(runtime.n8nBin)) return undefined;
	return runtime;
}

/**
 * The provisioned runtime for `major`. Runs scripts/provision-n8n.sh when it is missing or stale (`provision:
 * 'always'` runs it regardless: it is idempotent and takes ~2 s when everything is cached).
 */
export function getRuntime(major: N8nMajor = selectedMajor(), opts: { provision?: 'auto' | 'always' | 'never' } = {}): N8nRuntime {
	const mode = opts.provision ?? 'auto';
	let runtime = mode === 'always' ? undefined : readRuntimeFile(major);
	if (!runtime && mode !== 'never') {
		const result = spawnSync('bash', [PROVISION_SCRIPT, '--n8n', String(major)], { stdio: ['ignore', 'inherit', 'inherit'] });
		if (result.status !== 0) throw new Error(`${PROVISION_SCRIPT} --n8n ${major} failed (exit ${result.status})`);
		runtime = readRuntimeFile(major);
	}
	if (!runtime) {
		throw new Error(`n8n ${EXPECTED_N8N_VERSION[major]} is not provisioned in ${cacheDir()}: run scripts/provision-n8n.sh --n8n ${major}`);
	}
	return runtime;
}
