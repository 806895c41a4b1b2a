/**
 * The user's path through n8n's editor in a real browser (npm run test:browser): playwright-core drives Debian's
 * Chromium against the same n8n and local TikTok API as the e2e suite (its globalSetup starts n8n).
 */
module.exports = {
	testEnvironment: 'node',
	rootDir: __dirname,
	roots: ['<rootDir>/test/browser'],
	testMatch: ['**/*.browser.test.ts'],
	transform: {
		'^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
	},
	globalSetup: '<rootDir>/test/e2e/lib/global-setup.ts',
	globalTeardown: '<rootDir>/test/e2e/lib/global-teardown.ts',
	maxWorkers: 1,
	testTimeout: 90 * 1000,
	slowTestThreshold: 60,
};
