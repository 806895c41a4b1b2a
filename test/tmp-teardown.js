// Removes the run's temporary folder (made by test/tmp-setup.js), so tests leave nothing in the system's temp folder.
const { rmSync } = require('node:fs');

module.exports = async () => {
	if (process.env.TIKTOK_TEST_TMP) rmSync(process.env.TIKTOK_TEST_TMP, { recursive: true, force: true });
};
