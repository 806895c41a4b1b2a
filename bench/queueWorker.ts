/**
 * One n8n queue-mode process for the queue phase (bench/phases/queue.ts forks N of these): a RedisSyncCoordinator and
 * a RedisPacer on the shared Redis, the nodes' sender to the local API. It makes its share of the users (distinct
 * from every other worker's), says 'ready', and on 'go' submits them as executions that do not wait for delivery,
 * as fast as it can until they are all in (or the deadline passes), then flushes the scope and reports its counts,
 * its CPU and its Redis round trips. Exits on 'exit' or when the parent goes away.
 *   node --import tsx bench/queueWorker.ts '<json QueueWorkerArgs>'   (BENCH_SERVER: the local API's URLs)
 */
import { createHash } from 'node:crypto';

import type { Redis } from 'ioredis';

import { MAX_USERS_PER_REQUEST } from '../nodes/shared/transport/types';
import { appKeyFor, TikTokClient } from '../nodes/shared/transport/client';
import { RedisSyncCoordinator } from '../nodes/TikTokBatchSync/engine';
import type { SyncUser } from '../nodes/TikTokBatchSync/engine';
import { RedisPacer } from '../nodes/shared/redis/pacer';
import { SCRIPTS } from '../nodes/TikTokBatchSync/engine/redis/scripts';
import { openRedis } from '../nodes/shared/redis/client';
import { ALREADY_PACED, mappingSender } from '../nodes/TikTokBatchSync/sender';
import { connectionFor, type ServerUrls } from './lib/local';
import { wallNow } from './lib/stats';
import { quickHashedUsers } from './lib/users';

export interface QueueWorkerArgs {
	redisHost: string;
	redisPort: number;
	keyPrefix: string;
	scope: string;
	advertiserId: string;
	audienceId: string;
	/** This worker's users: [start, start + count) of the bench's user numbering. */
	start: number;
	count: number;
	perSubmit: number;
	/** Stop submitting this long after 'go' (what is in is still flushed). */
	submitMs: number;
	maxRequestsInFlight?: number;
}

export interface QueueWorkerDone {
	admitted: number;
	rejected: number;
	rejections: string[];
	goAt: number;
	submittedAt: number;
	flushedAt: number;
	cpuUs: number;
	/** Redis commands this process sent between 'go' and the end of its flush (EVALSHA, and EVAL after NOSCRIPT). */
	redisCommands: number;
	/** The same by script (or command) name. */
	redisByName: Record<string, number>;
}

/** Asked for once every worker is done: CPU and commands from 'go' until now (a worker that finished early keeps
 * sending for the others until then). */
export interface QueueWorkerStats {
	cpuUs: number;
	redisCommands: number;
	redisByName: Record<string, number>;
}

type Message = { type: 'go' } | { type: 'stats' } | { type: 'exit' };

/** Counts every command the client sends (ioredis: defined scripts go through sendCommand as evalsha/eval). */
function countCommands(redis: Redis): { counts: Map<string, number>; total: () => number; reset: () => void } {
	const names = new Map<string, string>();
	for (const [name, lua] of Object.entries(SCRIPTS)) names.set(createHash('sha1').update(lua).digest('hex'), name);
	const counts = new Map<string, number>();
	const send = redis.sendCommand.bind(redis);
	(redis as unknown as { sendCommand: typeof redis.sendCommand }).sendCommand = ((command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
		let name = command.name;
		if (name === 'evalsha') name = names.get(String(command.args[0])) ?? 'pace (evalsha)';
		else if (name === 'eval') name = 'eval (after NOSCRIPT)';
		counts.set(name, (counts.get(name) ?? 0) + 1);
		return (send as (...args: unknown[]) => unknown)(command, ...rest);
	}) as unknown as typeof redis.sendCommand;
	return {
		counts,
		total: () => [...counts.values()].reduce((sum, n) => sum + n, 0),
		reset: () => counts.clear(),
	};
}

async function main(): Promise<void> {
	const args = JSON.parse(process.argv[2] ?? '{}') as QueueWorkerArgs;
	const urls = JSON.parse(process.env.BENCH_SERVER ?? '{}') as ServerUrls;
	const redis = openRedis({
		address: `${args.redisHost}:${args.redisPort}`,
		source: 'bench',
		options: { host: args.redisHost, port: args.redisPort },
		keyPrefix: args.keyPrefix,
	}) as Redis;
	const counter = countCommands(redis);
	const connection = connectionFor(urls);
	const send = mappingSender(new TikTokClient(connection, { pacer: ALREADY_PACED }));
	const pacer = new RedisPacer(redis, { keyPrefix: args.keyPrefix, appKey: appKeyFor(connection) });
	const coordinator = new RedisSyncCoordinator({
		redis,
		keyPrefix: args.keyPrefix,
		requestCapacity: MAX_USERS_PER_REQUEST,
		maxRequestsInFlight: args.maxRequestsInFlight,
	});
	const destination = { advertiserId: args.advertiserId, audienceId: args.audienceId, action: 'add' as const, idSchema: ['EMAIL_SHA256' as const] };

	const batches: SyncUser[][] = [];
	for (let offset = 0; offset < args.count; offset += args.perSubmit) {
		batches.push(quickHashedUsers(args.start + offset, Math.min(args.perSubmit, args.count - offset)));
	}
	await redis.ping();
	if (global.gc) global.gc();

	let cpuBefore = process.cpuUsage();
	const go = new Promise<void>((resolve) => {
		process.on('message', (message: Message) => {
			if (message.type === 'go') resolve();
			if (message.type === 'stats') {
				const cpu = process.cpuUsage(cpuBefore);
				const stats: QueueWorkerStats = { cpuUs: cpu.user + cpu.system, redisCommands: counter.total(), redisByName: Object.fromEntries(counter.counts) };
				process.send?.({ type: 'stats', stats });
			}
			if (message.type === 'exit') {
				coordinator.reset();
				redis.disconnect();
				process.exit(0);
			}
		});
	});
	process.on('disconnect', () => process.exit(0));
	process.send?.({ type: 'ready' });
	await go;

	counter.reset();
	cpuBefore = process.cpuUsage();
	const goAt = wallNow();
	let admitted = 0;
	let rejected = 0;
	const rejections = new Set<string>();
	for (let index = 0; index < batches.length; index++) {
		if (wallNow() - goAt > args.submitMs) break;
		const users = batches[index];
		batches[index] = [];
		const result = await coordinator.submit({ scope: args.scope, destination, users, send, pacer, waitForDelivery: false });
		for (const outcome of result.outcomes) {
			if (outcome.status === 'rejected') rejected++;
			else admitted++;
		}
		if (result.rejection) rejections.add(result.rejection.message);
		// Executions arrive as separate events (webhooks): let I/O and timers run between them.
		await new Promise((resolve) => setImmediate(resolve));
	}
	const submittedAt = wallNow();
	await coordinator.flush(args.scope);
	const flushedAt = wallNow();
	const cpu = process.cpuUsage(cpuBefore);
	const done: QueueWorkerDone = {
		admitted,
		rejected,
		rejections: [...rejections],
		goAt,
		submittedAt,
		flushedAt,
		cpuUs: cpu.user + cpu.system,
		redisCommands: counter.total(),
		redisByName: Object.fromEntries(counter.counts),
	};
	process.send?.({ type: 'done', done });
}

main().catch((error: unknown) => {
	process.stderr.write(`queue worker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
	process.exit(1);
});
