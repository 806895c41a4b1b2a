/** Small builders for workflow JSON as n8n's public API takes it. */
import { randomUUID } from 'node:crypto';

import type { WorkflowConnections, WorkflowInput, WorkflowNode } from './client';

type NodeOptions = Partial<Omit<WorkflowNode, 'name' | 'type' | 'parameters'>>;

export function node(name: string, type: string, parameters: Record<string, unknown> = {}, opts: NodeOptions = {}): WorkflowNode {
	return { id: randomUUID(), name, type, typeVersion: 1, position: [0, 0], parameters, ...opts };
}

export function manualTrigger(name = 'Manual'): WorkflowNode {
	return node(name, 'n8n-nodes-base.manualTrigger');
}

/** Webhook trigger (production URL /webhook/<path>). responseMode 'lastNode' answers with the last node's first item. */
export function webhookTrigger(
	path: string,
	opts: { name?: string; httpMethod?: string; responseMode?: 'onReceived' | 'lastNode' | 'responseNode'; options?: Record<string, unknown> } = {},
): WorkflowNode {
	return node(
		opts.name ?? 'Webhook',
		'n8n-nodes-base.webhook',
		{ httpMethod: opts.httpMethod ?? 'POST', path, responseMode: opts.responseMode ?? 'lastNode', options: opts.options ?? {} },
		{ typeVersion: 2, webhookId: randomUUID() },
	);
}

/** Code node, "Run Once for All Items" (JavaScript). */
export function codeNode(name: string, jsCode: string): WorkflowNode {
	return node(name, 'n8n-nodes-base.code', { jsCode }, { typeVersion: 2 });
}

/** A node of this package: `tikTokAudience` / `tikTokBatchSync`, with a credential reference. */
export function packageNode(
	name: string,
	nodeName: string,
	parameters: Record<string, unknown>,
	credential?: { type: string; id: string; name: string },
	opts: NodeOptions = {},
): WorkflowNode {
	return node(name, `n8n-nodes-tiktok-audience-sync.${nodeName}`, parameters, {
		...(credential ? { credentials: { [credential.type]: { id: credential.id, name: credential.name } } } : {}),
		...opts,
	});
}

/** Connect `from` output `output` to `to` input `input` (adds to existing connections). */
export function connect(connections: WorkflowConnections, from: string, to: string, output = 0, input = 0): WorkflowConnections {
	const outputs = (connections[from] ??= { main: [] }).main;
	while (outputs.length <= output) outputs.push([]);
	outputs[output].push({ node: to, type: 'main', index: input });
	return connections;
}

/**
 * A workflow from nodes; without `connections`, the nodes are chained in order (output 0 → input 0).
 * Nodes are laid out left to right so the workflow also looks fine in the editor (screenshots).
 */
export function workflow(name: string, nodes: WorkflowNode[], connections?: WorkflowConnections): WorkflowInput {
	nodes.forEach((n, i) => {
		if (n.position[0] === 0 && n.position[1] === 0) n.position = [240 * i, 300];
	});
	let wiring = connections;
	if (!wiring) {
		wiring = {};
		for (let i = 0; i + 1 < nodes.length; i++) connect(wiring, nodes[i].name, nodes[i + 1].name);
	}
	return { name, nodes, connections: wiring, settings: { executionOrder: 'v1' } };
}
