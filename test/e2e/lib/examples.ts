/**
 * The importable workflows in examples/*.json, as the e2e suite and `npm run dev` load them: read the file and
 * point every TikTok credential reference at a credential of this n8n (the files ship with an empty id).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { Workflow, WorkflowInput, WorkflowNode } from './client';
import type { N8nClient } from './client';
import { PACKAGE_NAME } from './package';
import { REPO_DIR } from './runtime';

export const EXAMPLES_DIR = join(REPO_DIR, 'examples');

/** examples/*.json file names, sorted. */
export function exampleFiles(): string[] {
	return readdirSync(EXAMPLES_DIR)
		.filter((file) => file.endsWith('.json'))
		.sort();
}

/** A fresh copy of examples/<file>. */
export function readExample(file: string): WorkflowInput {
	return JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as WorkflowInput;
}

export interface CredentialRef {
	id: string;
	name: string;
	/** tikTokBusinessApi or tikTokBusinessOAuth2Api */
	type: string;
}

/**
 * Point every TikTok credential reference of the workflow at `credential`, and set this package's nodes'
 * Authentication to match it (accessToken for tikTokBusinessApi, oAuth2 for the OAuth2 credential). In place.
 */
export function useCredential(workflow: WorkflowInput, credential: CredentialRef): WorkflowInput {
	const authentication = credential.type === 'tikTokBusinessOAuth2Api' ? 'oAuth2' : 'accessToken';
	for (const node of workflow.nodes ?? []) {
		const ownNode = node.type.startsWith(`${PACKAGE_NAME}.`);
		const refs = node.credentials ?? {};
		const hasTikTokRef = Object.keys(refs).some((type) => type.startsWith('tikTok'));
		if (!ownNode && !hasTikTokRef) continue;
		for (const type of Object.keys(refs)) if (type.startsWith('tikTok')) delete refs[type];
		node.credentials = { ...refs, [credential.type]: { id: credential.id, name: credential.name } };
		if (ownNode && node.parameters) node.parameters.authentication = authentication;
	}
	return workflow;
}

/** The node called `name` (throws when the workflow has none). */
export function nodeNamed(workflow: WorkflowInput, name: string): WorkflowNode {
	const found = workflow.nodes.find((node) => node.name === name);
	if (!found) throw new Error(`workflow "${workflow.name}" has no node "${name}" (has ${workflow.nodes.map((n) => n.name).join(', ')})`);
	return found;
}

/**
 * Give every Webhook node of the workflow a new webhookId and, when given, new paths (`{ nodeName: path }`), so a
 * second copy of an example can be active next to the first.
 */
export function renewWebhooks(workflow: WorkflowInput, paths: Record<string, string> = {}): WorkflowInput {
	for (const node of workflow.nodes) {
		if (node.type !== 'n8n-nodes-base.webhook') continue;
		node.webhookId = randomUUID();
		if (paths[node.name]) node.parameters.path = paths[node.name];
	}
	return workflow;
}

/** Read examples/<file>, point it at `credential`, let `edit` change it, and create it in n8n. */
export async function importExample(
	client: N8nClient,
	file: string,
	credential: CredentialRef,
	edit?: (workflow: WorkflowInput) => void,
): Promise<{ workflow: Workflow; input: WorkflowInput }> {
	const input = useCredential(readExample(file), credential);
	edit?.(input);
	return { workflow: await client.createWorkflow(input), input };
}
