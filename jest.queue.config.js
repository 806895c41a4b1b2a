/**
 * End-to-end tests in n8n queue mode (npm run test:queue): each test file under test/e2e/queue starts its own
 * topology (test/e2e/lib/queueMode.ts: PostgreSQL database, own Redis, main + workers); globalSetup only packs the
 * package once. scripts/provision-n8n.sh installs n8n outside the working tree.
 */
module.exports = {
	testEnvironment: 'node',
	rootDir: __dirname,
	roots: ['<rootDir>/test/e2e/queue'],
	testMatch: ['**/*.queue.test.ts'],
	transform: {
		'^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
	},
	globalSetup: '<rootDir>/test/e2e/lib/queue-global-setup.ts',
	globalTeardown: '<rootDir>/test/e2e/lib/queue-global-teardown.ts',
	maxWorkers: 1,
	testTimeout: 5 * 60 * 1000,
	slowTestThreshold: 120,
};
