// One temporary folder per jest run for n8n-core's instance settings: test/setup-env.ts puts each worker's
// N8N_USER_FOLDER inside it, and test/tmp-teardown.js removes it when the run ends.
const { mkdtempSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

module.exports = async () => {
	process.env.TIKTOK_TEST_TMP = mkdtempSync(join(tmpdir(), 'n8n-tiktok-audience-sync-tests-'));
};
