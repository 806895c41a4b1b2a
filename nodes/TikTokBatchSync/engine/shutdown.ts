import { SHUTDOWN_WAIT_MS } from './limits';

/** Something to stop gracefully when the process is told to stop. */
export interface Stoppable {
	shutdown(waitMs?: number): Promise<void>;
}

interface Registry {
	engines: Set<Stoppable>;
	/** Our listeners, while installed. */
	listeners?: Map<NodeJS.Signals, () => void>;
	/** Per signal, whether the process had a listener of its own (n8n's) when ours was added. */
	othersAtInstall?: Map<NodeJS.Signals, boolean>;
}

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** One registry per process, whatever number of copies of this module n8n loads. */
function registry(): Registry {
	const key = Symbol.for('n8n-nodes-tiktok-audience-sync.shutdown');
	const global = globalThis as unknown as Record<symbol, Registry | undefined>;
	return (global[key] ??= { engines: new Set() });
}

/**
 * Stops `engine` gracefully when the process gets SIGTERM or SIGINT: n8n's graceful shutdown (a worker told to stop
 * finishes its executions, then exits). n8n offers community nodes no shutdown hook, so this listens to the signals
 * itself, once, beside n8n's own listener: n8n still decides when the process exits, and the engine uses the time
 * until then (hands back what it has not sent at once, waits up to SHUTDOWN_WAIT_MS for what is in flight). In a
 * process where nobody else listens, the signal is raised again afterwards, so it still ends the process as it would
 * have. Returns a function that stops listening for this engine.
 */
export function shutDownOnSignals(engine: Stoppable): () => void {
	const shared = registry();
	shared.engines.add(engine);
	if (!shared.listeners) {
		shared.listeners = new Map();
		shared.othersAtInstall = new Map();
		for (const signal of SIGNALS) {
			shared.othersAtInstall.set(signal, process.listenerCount(signal) > 0);
			const listener = () => void onSignal(signal);
			shared.listeners.set(signal, listener);
			process.once(signal, listener);
		}
	}
	return () => shared.engines.delete(engine);
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
	const shared = registry();
	// Someone else handles the signal (n8n's listener: it may have run, and been removed, before this one).
	const handledElsewhere = (shared.othersAtInstall?.get(signal) ?? false) || process.listenerCount(signal) > 0;
	const engines = [...shared.engines];
	shared.engines.clear();
	// Only our listener for the other signal goes; n8n's stay as they are.
	for (const [other, listener] of shared.listeners ?? []) if (other !== signal) process.off(other, listener);
	shared.listeners = undefined;
	await Promise.allSettled(engines.map((engine) => engine.shutdown(SHUTDOWN_WAIT_MS)));
	if (!handledElsewhere) process.kill(process.pid, signal);
}
