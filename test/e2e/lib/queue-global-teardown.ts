/** jest globalTeardown for jest.queue.config.js: whatever a test file left running or created is removed. */
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

import { killRegisteredGroups } from './n8n';
import { dropRecordedDatabases, PACKED_ENV, RUN_DIR_ENV } from './queueMode';

export default async function queueGlobalTeardown(): Promise<void> {
	const marker = process.env[RUN_DIR_ENV];
	if (!marker || !existsSync(marker)) return;
	const runDir = dirname(marker);
	killRegisteredGroups(runDir);
	await dropRecordedDatabases(runDir);
	const packed = process.env[PACKED_ENV];
	if (packed && !process.env.N8N_QUEUE_TARBALL) rmSync(dirname((JSON.parse(packed) as { tarball: string }).tarball), { recursive: true, force: true });
	rmSync(runDir, { recursive: true, force: true });
}
