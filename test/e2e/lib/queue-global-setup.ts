/**
 * jest globalSetup for the queue-mode suite (jest.queue.config.js). No shared n8n: each test file starts its own
 * topology (queueMode.ts). This only checks the provisioned n8n, builds the package if dist/ is stale and packs it
 * once (every topology installs that tarball into main and each worker), and makes a run folder whose pid registry
 * and list of databases globalTeardown (or an abort) cleans up. N8N_QUEUE_TARBALL=<file.tgz> installs that tarball
 * instead (e.g. one packed from a clean checkout while the working tree is mid-edit); it is not removed afterwards.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { killRegisteredGroups } from './n8n';
import { buildPackage, PACKAGE_NAME, packPackage } from './package';
import { PACKED_ENV, RUN_DIR_ENV } from './queueMode';
import { getRuntime, selectedMajor } from './runtime';

export default async function queueGlobalSetup(): Promise<void> {
	const t0 = Date.now();
	const major = selectedMajor();
	const runtime = getRuntime(major);
	const given = process.env.N8N_QUEUE_TARBALL;
	if (given && !existsSync(given)) throw new Error(`N8N_QUEUE_TARBALL=${given} does not exist`);
	const packed = given ? { tarball: given, name: PACKAGE_NAME, version: 'given', files: [] } : (buildPackage(), packPackage());
	const runDir = mkdtempSync(join(tmpdir(), `n8n-tiktok-queue-run-${major}-`));
	const marker = join(runDir, 'run.json');
	writeFileSync(marker, JSON.stringify({ major, packed, givenTarball: !!given }, null, 2));
	process.env[PACKED_ENV] = JSON.stringify(packed);
	process.env[RUN_DIR_ENV] = marker; // n8n.ts records process groups under <runDir>/pids
	process.stderr.write(
		`\n[queue] n8n ${runtime.n8nVersion} on ${runtime.node}; packed ${packed.name}@${packed.version} (${given ? given : `${packed.files.length} files`}) in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
	);
	const kill = () => killRegisteredGroups(runDir);
	process.once('exit', kill);
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
		process.once(signal, () => {
			kill();
			process.stderr.write(`[queue] ${signal}: killed the run's processes; databases recorded in ${runDir}/databases are left\n`);
			process.exit(130);
		});
	}
}
