/**
 * `npm run lint`: n8n's community-node rules, two plugins side by side (ESLint 9, flat config).
 * - @n8n/eslint-plugin-community-nodes, its `recommended` config: the rules n8n's own node CLI and the community
 *   package checks run today, on the node and credential sources and on package.json.
 * - eslint-plugin-n8n-nodes-base (the older plugin): its community rules for package.json, credentials rules and
 *   nodes rules.
 * Every rule turned off says why on its line.
 */
import { n8nCommunityNodesPlugin } from '@n8n/eslint-plugin-community-nodes';
import tsParser from '@typescript-eslint/parser';
import n8nNodesBase from 'eslint-plugin-n8n-nodes-base';

const typescript = {
	parser: tsParser,
	parserOptions: { project: ['./tsconfig.json'], sourceType: 'module', extraFileExtensions: ['.json'] },
};

export default [
	{ ignores: ['**/dist/**', '**/node_modules/**', 'test/**', 'bench/**', 'scripts/**', '**/*.js', '**/*.mjs'] },
	{
		files: ['nodes/**/*.ts', 'credentials/**/*.ts', 'package.json'],
		languageOptions: typescript,
		...n8nCommunityNodesPlugin.configs.recommended,
		rules: {
			...n8nCommunityNodesPlugin.configs.recommended.rules,
			// The package owner asked for axios, limiter, zod and libphonenumber-js (ioredis to come) as runtime
			// dependencies: the package is for self-hosted n8n and is not offered on n8n Cloud (README, Install).
			'@n8n/community-nodes/no-runtime-dependencies': 'off',
			// The same dependencies, and node:http/node:https for the keep-alive agents, are imports n8n Cloud forbids.
			'@n8n/community-nodes/no-restricted-imports': 'off',
			// The engine's window, pacing and retry timers and its one coordinator per process (globalThis) are its design.
			'@n8n/community-nodes/no-restricted-globals': 'off',
			// The package has no public contact email yet (the owner is to give one before publishing on npm).
			'@n8n/community-nodes/valid-author': 'off',
		},
	},
	{
		// The node classes take their description (with its light/dark icon) from versionDescription.ts, which the
		// rule does not follow; it still checks the credentials' icons. The icon files are next to each .node.ts.
		files: ['nodes/**/*.node.ts'],
		rules: { '@n8n/community-nodes/icon-validation': 'off' },
	},
	{
		// TikTokApiError (TikTok's code, message and retry class) is rethrown on purpose below the node's execute(), so
		// callers can retry or classify it; shared/connection.ts toNodeError turns it into NodeApiError at the boundary.
		files: ['nodes/shared/**/*.ts', 'nodes/TikTokBatchSync/**/*.ts', 'nodes/TikTokAudience/actions/user/membership.ts'],
		rules: { '@n8n/community-nodes/require-node-api-error': 'off' },
	},
	{
		files: ['package.json'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.community.rules,
		},
	},
	{
		files: ['credentials/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.credentials.rules,
			// Our documentation lives in the package README, not on docs.n8n.io.
			'n8n-nodes-base/cred-class-field-documentation-url-miscased': 'off',
		},
	},
	{
		files: ['nodes/**/*.ts'],
		plugins: { 'n8n-nodes-base': n8nNodesBase },
		rules: {
			...n8nNodesBase.configs.nodes.rules,
			// Continue On Fail is handled in one place (actions/common.ts forEachItem), which the rule cannot see.
			'n8n-nodes-base/node-execute-block-missing-continue-on-fail': 'off',
			// Descriptions follow the Airtable-v2 layout (actions/<resource>/<operation>.operation.ts).
			'n8n-nodes-base/node-resource-description-filename-against-convention': 'off',
			// Fixed-collection items are in the order users fill them in, not alphabetical.
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
		files: ['nodes/**/versionDescription.ts'],
		rules: { 'n8n-nodes-base/node-filename-against-convention': 'off' },
	},
];
