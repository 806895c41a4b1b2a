/**
 * Lint with the n8n community-node rules (eslint-plugin-n8n-nodes-base: community rules for package.json,
 * credentials rules, nodes rules).
 *
 * @type {import('@types/eslint').ESLint.ConfigData}
 */
module.exports = {
	root: true,
	env: { browser: false, es2020: true, node: true },
	parser: '@typescript-eslint/parser',
	parserOptions: {
		project: ['./tsconfig.json'],
		sourceType: 'module',
		extraFileExtensions: ['.json'],
	},
	ignorePatterns: ['.eslintrc.js', '**/*.js', '**/node_modules/**', '**/dist/**', 'test/**', 'bench/**', 'scripts/**'],
	overrides: [
		{
			files: ['package.json'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/community'],
			rules: {
				// The owner's design card puts axios, limiter and zod in `dependencies`: that keeps the package off n8n
				// Cloud and the verified list, and is fine for self-hosted installs (Community Nodes UI or npm).
				'n8n-nodes-base/community-package-json-name-still-default': 'off',
			},
		},
		{
			files: ['./credentials/**/*.ts'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/credentials'],
			rules: {
				// Our documentation lives in the package README, not on docs.n8n.io.
				'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
			},
		},
		{
			files: ['./nodes/**/*.ts'],
			plugins: ['eslint-plugin-n8n-nodes-base'],
			extends: ['plugin:n8n-nodes-base/nodes'],
			rules: {
				'n8n-nodes-base/node-execute-block-missing-continue-on-fail': 'off',
				'n8n-nodes-base/node-resource-description-filename-against-convention': 'off',
				'n8n-nodes-base/node-param-fixed-collection-type-unsorted-items': 'off',
				// NodeConnectionTypes.Main is how current n8n declares inputs and outputs; the rule predates it.
				'n8n-nodes-base/node-class-description-inputs-wrong-regular-node': 'off',
				'n8n-nodes-base/node-class-description-outputs-wrong': 'off',
				// The rule cannot see the default of properties built in a map() (shared/descriptions.ts sets one).
				'n8n-nodes-base/node-param-default-missing': 'off',
			},
		},
		{
			// Airtable-v2 layout: the node description lives in actions/versionDescription.ts, not in the .node.ts file.
			files: ['./nodes/**/versionDescription.ts'],
			rules: { 'n8n-nodes-base/node-filename-against-convention': 'off' },
		},
	],
};
