/**
 * State shared by every node and workflow in this n8n process. n8n may load a module more than once (one copy per
 * node type), so such state lives on a global symbol rather than in module scope: every copy finds the same value.
 */

/** Each name's symbol, looked up once per module copy (the hot path asks for a few of them per execution). */
const keys = new Map<string, symbol>();

function keyOf(name: string): symbol {
	let key = keys.get(name);
	if (key === undefined) {
		key = Symbol.for(`n8n-nodes-tiktok-audience-sync.${name}`);
		keys.set(name, key);
	}
	return key;
}

type Holder<T> = Record<symbol, T | undefined>;

/** The process-wide value called `name`, made by `create` on first use. */
export function processWide<T>(name: string, create: () => T): T {
	const holder = globalThis as unknown as Holder<T>;
	const key = keyOf(name);
	let value = holder[key];
	if (value === undefined) {
		value = create();
		holder[key] = value;
	}
	return value;
}

/** Replace the process-wide value called `name` (undefined: the next processWide call makes a new one). */
export function replaceProcessWide<T>(name: string, value: T | undefined): T | undefined {
	const holder = globalThis as unknown as Holder<T>;
	const key = keyOf(name);
	const previous = holder[key];
	holder[key] = value;
	return previous;
}
