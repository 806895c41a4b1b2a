/**
 * One benchmark phase in a fresh process (its own heap, JIT and CPU accounting), started by bench/run.ts:
 *   node --import tsx bench/phase.ts <phase> '<json args>'
 * Run that way by hand (e.g. `node --import tsx --expose-gc bench/phase.ts cpu '{"users":200000,"repeats":5,"phones":60000}'`,
 * which needs no local API), it prints the result instead.
 * The local API's URLs come in BENCH_SERVER (JSON). The result goes back over IPC.
 */
import type { ServerUrls } from './lib/local';

type PhaseRunner = (urls: ServerUrls, args: never) => Promise<unknown>;

const phases: Record<string, () => Promise<PhaseRunner>> = {
	throughput: async () => (await import('./phases/throughput')).runThroughput as PhaseRunner,
	cpu: async () => (await import('./phases/cpu')).runCpu as PhaseRunner,
	node: async () => (await import('./phases/node')).runNode as PhaseRunner,
	latency: async () => (await import('./phases/latency')).runLatency as PhaseRunner,
	memory: async () => (await import('./phases/memory')).runMemory as PhaseRunner,
	journal: async () => (await import('./phases/journal')).runJournal as PhaseRunner,
	baseline: async () => (await import('./phases/baseline')).runBaseline as PhaseRunner,
	queue: async () => (await import('./phases/queue')).runQueue as PhaseRunner,
	'queue-memory': async () => (await import('./phases/queue')).runRedisMemory as PhaseRunner,
	mirror: async () => (await import('./phases/mirror')).runMirror as PhaseRunner,
};

async function main(): Promise<void> {
	const [name, rawArgs] = process.argv.slice(2);
	const load = phases[name];
	if (!load) throw new Error(`unknown phase ${name}`);
	const urls = JSON.parse(process.env.BENCH_SERVER ?? '{}') as ServerUrls;
	const run = await load();
	const result = await run(urls, JSON.parse(rawArgs ?? '{}') as never);
	// Run by hand (no IPC channel), the phase prints its result.
	if (!process.send) process.stdout.write(`${JSON.stringify(result, null, '\t')}\n`);
	await new Promise<void>((resolve) => (process.send ? process.send({ result }, () => resolve()) : resolve()));
	process.exit(0);
}

main().catch((error: unknown) => {
	process.stderr.write(`bench phase failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
