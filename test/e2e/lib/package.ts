/**
 * Build this package, `npm pack` it and install the tarball into an n8n user folder the way a user installs a
 * community package by hand (`cd ~/.n8n/nodes && npm install <package>`), so the e2e tests load exactly what
 * would be published: the `files` in package.json, the runtime dependencies, and no second n8n-workflow.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { REPO_DIR } from './runtime';

export const PACKAGE_NAME: string = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')).name;

export interface InstalledPackage {
	name: string;
	version: string;
	/** The packed tarball (in a temp folder). */
	tarball: string;
	/** <userFolder>/.n8n/nodes */
	nodesDir: string;
	/** <userFolder>/.n8n/nodes/node_modules/<name> */
	packageDir: string;
	/** Files in the tarball, as `npm pack --json` lists them. */
	files: string[];
}

/** npm without the repo's npm_config_* leaking in when the tests run under `npm run`. */
function npmEnv(): NodeJS.ProcessEnv {
	const env: NodeJS.ProcessEnv = {};
	for (const [key, value] of Object.entries(process.env)) {
		if (/^npm_(config_(ignore_scripts|local_prefix|prefix|global|omit|include|production|legacy_peer_deps|package_lock)|package_|lifecycle_)/.test(key)) continue;
		env[key] = value;
	}
	return env;
}

function npm(args: string[], cwd: string): string {
	return execFileSync('npm', args, { cwd, env: npmEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

function newestMtime(path: string, skip: (name: string) => boolean = () => false): number {
	if (!existsSync(path)) return 0;
	const stat = statSync(path);
	if (!stat.isDirectory()) return stat.mtimeMs;
	let newest = 0;
	for (const entry of readdirSync(path)) {
		if (skip(entry)) continue;
		newest = Math.max(newest, newestMtime(join(path, entry), skip));
	}
	return newest;
}

/** True when dist/ is missing, empty or older than a source file. */
export function distIsStale(): boolean {
	const dist = join(REPO_DIR, 'dist');
	const distNewest = newestMtime(dist);
	if (!distNewest) return true;
	const skip = (name: string) => name === 'node_modules' || name.endsWith('.test.ts');
	const sources = ['nodes', 'credentials', 'package.json', 'tsconfig.json', 'gulpfile.js', 'index.js'].map((p) => join(REPO_DIR, p));
	return sources.some((source) => newestMtime(source, skip) > distNewest);
}

/**
 * `npm run build` when needed. `mode`: 'auto' (default; env N8N_E2E_BUILD overrides) builds when dist is stale,
 * 'always' rebuilds, 'never' only checks that dist exists.
 */
export function buildPackage(mode: 'auto' | 'always' | 'never' = (process.env.N8N_E2E_BUILD as 'auto' | 'always' | 'never') || 'auto'): void {
	if (mode === 'never' || (mode === 'auto' && !distIsStale())) {
		if (!existsSync(join(REPO_DIR, 'dist'))) throw new Error('dist/ is missing: run npm run build');
		return;
	}
	process.stderr.write(`[e2e] npm run build (${mode === 'always' ? 'forced' : 'dist missing or stale'})\n`);
	try {
		npm(['run', 'build'], REPO_DIR);
	} catch (error) {
		const e = error as { stdout?: string; stderr?: string };
		throw new Error(`npm run build failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
	}
}

export interface PackedPackage {
	tarball: string;
	files: string[];
	name: string;
	version: string;
}

/** `npm pack` (of this checkout, or of `dir`) into a fresh temp folder; returns the tarball path and its file list. */
export function packPackage(dir: string = REPO_DIR): PackedPackage {
	const destination = mkdtempSync(join(tmpdir(), 'n8n-tiktok-pack-'));
	const output = npm(['pack', '--json', '--pack-destination', destination], dir);
	const [info] = JSON.parse(output) as Array<{ filename: string; name: string; version: string; files: Array<{ path: string }> }>;
	return { tarball: join(destination, info.filename), files: info.files.map((f) => f.path), name: info.name, version: info.version };
}

/**
 * Build (if needed), pack and install the package into <userFolder>/.n8n/nodes, like
 * `cd ~/.n8n/nodes && npm install <tarball>`. Peer dependencies are not installed (--legacy-peer-deps): n8n
 * puts its own node_modules on NODE_PATH before it loads community packages, so `require('n8n-workflow')`
 * resolves to the n8n-workflow of the running n8n (n8n's own UI installer strips peerDependencies likewise).
 */
export function packAndInstall(userFolder: string, opts: { build?: 'auto' | 'always' | 'never'; packed?: PackedPackage } = {}): InstalledPackage {
	// `packed`: install a tarball packed earlier (queue mode installs the same one into main and every worker)
	let packed = opts.packed;
	if (!packed) {
		buildPackage(opts.build);
		packed = packPackage();
	}
	const nodesDir = join(userFolder, '.n8n', 'nodes');
	mkdirSync(nodesDir, { recursive: true });
	const manifest = join(nodesDir, 'package.json');
	if (!existsSync(manifest)) writeFileSync(manifest, JSON.stringify({ name: 'installed-nodes', private: true, dependencies: {} }, null, 2) + '\n');
	try {
		npm(['install', packed.tarball, '--omit=dev', '--legacy-peer-deps', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], nodesDir);
	} catch (error) {
		const e = error as { stdout?: string; stderr?: string };
		throw new Error(`npm install ${packed.tarball} in ${nodesDir} failed:\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
	}
	const packageDir = join(nodesDir, 'node_modules', packed.name);
	if (!existsSync(join(packageDir, 'package.json'))) throw new Error(`${packageDir} was not installed`);
	if (existsSync(join(nodesDir, 'node_modules', 'n8n-workflow'))) {
		throw new Error('n8n-workflow was installed next to the package: peer dependencies must come from n8n itself');
	}
	return { name: packed.name, version: packed.version, tarball: packed.tarball, nodesDir, packageDir, files: packed.files };
}

/**
 * For development: symlink the working tree into <userFolder>/.n8n/nodes/node_modules/<name>, so n8n loads
 * dist/ as built by `tsc --watch`. Replaces an earlier install or link.
 */
export function linkPackage(userFolder: string, target = REPO_DIR): string {
	const modules = join(userFolder, '.n8n', 'nodes', 'node_modules');
	mkdirSync(modules, { recursive: true });
	const link = join(modules, PACKAGE_NAME);
	let existing: ReturnType<typeof lstatSync> | undefined;
	try {
		existing = lstatSync(link);
	} catch {
		existing = undefined;
	}
	if (existing) rmSync(link, { recursive: true, force: true });
	symlinkSync(target, link, 'dir');
	return link;
}
