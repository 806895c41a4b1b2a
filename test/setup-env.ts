// n8n-core's InstanceSettings writes <N8N_USER_FOLDER>/.n8n/config: keep it in a temp folder with a fixed key,
// and keep n8n's logger quiet so test output shows only test results.
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Inside the run's folder (test/tmp-teardown.js removes it at the end); a run started without it uses the system's.
const folder = join(process.env.TIKTOK_TEST_TMP ?? tmpdir(), `n8n-tiktok-audience-sync-tests-${process.pid}`);
mkdirSync(folder, { recursive: true });
process.env.N8N_USER_FOLDER = folder;
process.env.N8N_ENCRYPTION_KEY = 'tiktok-audience-sync-test-key';
process.env.N8N_LOG_LEVEL = 'silent';
