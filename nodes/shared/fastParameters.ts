import type { IDataObject, IExecuteFunctions, INode, INodeExecutionData } from 'n8n-workflow';

/**
 * Reading a parameter per item evaluates its expression each time, which costs n8n ~0.2 ms: a 100,000-item run
 * would spend most of its time there. Two shortcuts that give the same values:
 * - a parameter that is not an expression has one value for every item: read it once;
 * - the common `={{ $json.email }}` (and `={{ $json.gaid ?? $json.aaid }}`) is a plain field lookup: do it directly.
 * Anything else goes through n8n's evaluation per item.
 */

/** The node of an execution context, copied once: n8n's getNode() deep-copies the node (its parameters too) per call. */
const nodes = new WeakMap<object, INode>();

export function nodeOf(context: IExecuteFunctions): INode {
	let node = nodes.get(context);
	if (!node) {
		node = context.getNode();
		nodes.set(context, node);
	}
	return node;
}

function hasExpression(value: unknown): boolean {
	if (typeof value === 'string') return value.startsWith('=');
	if (Array.isArray(value)) return value.some(hasExpression);
	if (value && typeof value === 'object') return Object.values(value).some(hasExpression);
	return false;
}

/**
 * A node-level parameter (item 0) without n8n's evaluation when it holds no expression: n8n filled in its default
 * already, and evaluating a fixed value only copies it. Callers must not change what they get.
 */
export function fixedParameter<T>(context: IExecuteFunctions, name: string, fallback: T): T {
	const raw = nodeOf(context).parameters[name];
	if (raw === undefined || hasExpression(raw)) return context.getNodeParameter(name, 0, fallback as never) as T;
	return raw as T;
}

/** The ID a resource locator holds ("By ID" or picked from the list), read as fixedParameter; other modes through n8n. */
export function fixedLocatorValue(context: IExecuteFunctions, name: string): string {
	const raw = nodeOf(context).parameters[name] as { __rl?: boolean; mode?: string; value?: unknown } | undefined;
	if (raw && typeof raw === 'object' && raw.__rl && (raw.mode === 'id' || raw.mode === 'list') && !hasExpression(raw)) {
		return String(raw.value ?? '').trim();
	}
	return String(context.getNodeParameter(name, 0, '', { extractValue: true }) ?? '').trim();
}

const SIMPLE_PATH = /^\$json((?:\.[A-Za-z_$][\w$]*|\[(?:'[^'\\]*'|"[^"\\]*"|\d+)\])+)$/;
const SEGMENT = /\.([A-Za-z_$][\w$]*)|\[(?:'([^'\\]*)'|"([^"\\]*)"|(\d+))\]/g;

/** The field path of `$json.a.b` / `$json["a"]`, or undefined if the text is anything else. */
function parseJsonPath(text: string): string[] | undefined {
	const match = SIMPLE_PATH.exec(text.trim());
	if (!match) return undefined;
	const path: string[] = [];
	for (const segment of match[1].matchAll(SEGMENT)) path.push(segment[1] ?? segment[2] ?? segment[3] ?? segment[4]);
	return path;
}

function lookup(json: IDataObject, path: string[]): unknown {
	let value: unknown = json;
	for (const key of path) {
		if (value === null || typeof value !== 'object') return undefined;
		value = (value as IDataObject)[key];
	}
	return value;
}

export type ItemReader = (itemIndex: number) => unknown;

/** A reader for one string parameter of every item, using the shortcuts above when they apply. */
export function parameterReader(context: IExecuteFunctions, name: string, items: INodeExecutionData[], fallback: unknown = undefined): ItemReader {
	const raw = nodeOf(context).parameters[name];
	if (typeof raw === 'string' && raw.startsWith('=')) {
		const body = /^=\{\{([\s\S]*)\}\}$/.exec(raw.trim());
		if (body) {
			const alternatives = body[1].split('??').map((part) => parseJsonPath(part));
			if (alternatives.every((path) => path !== undefined)) {
				const paths = alternatives as string[][];
				return (itemIndex) => {
					for (const path of paths) {
						const value = lookup(items[itemIndex].json, path);
						if (value !== undefined && value !== null) return value;
					}
					// `a ?? b` yields b's own value (null stays null) when every alternative is missing.
					return lookup(items[itemIndex].json, paths[paths.length - 1]);
				};
			}
		}
		return (itemIndex) => context.getNodeParameter(name, itemIndex, fallback);
	}
	if (raw !== null && typeof raw === 'object' && typeof (raw as IDataObject).value === 'string' && String((raw as IDataObject).value).startsWith('=')) {
		// A resource locator holding an expression: per item.
		return (itemIndex) => context.getNodeParameter(name, itemIndex, fallback, { extractValue: true });
	}
	// Read on first use only: a parameter hidden by the node's other settings must not be read at all.
	let read = false;
	let value: unknown;
	return () => {
		if (!read) {
			value = context.getNodeParameter(name, 0, fallback, { extractValue: true });
			read = true;
		}
		return value;
	};
}
