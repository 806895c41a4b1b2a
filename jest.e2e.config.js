/**
 * End-to-end tests against a real n8n (npm run test:e2e). One n8n is started in globalSetup and shared by all
 * *.e2e.test.ts files, which run one at a time. scripts/provision-n8n.sh installs n8n outside the working tree.
 */
module.exports = {
	testEnvironment: 'node',
	rootDir: __dirname,
	roots: ['<rootDir>/test/e2e'],
	testMatch: ['**/*.e2e.test.ts'],
	transform: {
		'^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
	},
	globalSetup: '<rootDir>/test/e2e/lib/global-setup.ts',
	globalTeardown: '<rootDir>/test/e2e/lib/global-teardown.ts',
	maxWorkers: 1,
	testTimeout: 5 * 60 * 1000,
	slowTestThreshold: 60,
};
