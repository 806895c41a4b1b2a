/*
 * One process of the multi-process pacer test (test/redis/pacer.test.ts), run with tsx:
 *   tsx test/redis/pacerWorker.ts <host> <port> <keyPrefix> <appKey> <count>
 * Connects, prints "ready", waits for a line on stdin (so all workers start together), then acquires <count> times,
 * keeping each admission time (Redis's clock, µs) acquire() returns, and prints {"stamps":[µs,…]} on one line.
 */
import Redis from 'ioredis';

import { RedisPacer } from '../../nodes/shared/redis/pacer';

async function main(): Promise<void> {
	const [host, port, keyPrefix, appKey, count] = process.argv.slice(2);
	const redis = new Redis({ host, port: Number(port), lazyConnect: true, maxRetriesPerRequest: 1 });
	await redis.connect();
	const pacer = new RedisPacer(redis, { keyPrefix, appKey });
	await redis.ping();
	process.stdout.write('ready\n');
	await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
	const stamps: number[] = [];
	for (let i = 0; i < Number(count); i++) stamps.push(await pacer.admit());
	process.stdout.write(`${JSON.stringify({ pid: process.pid, stamps })}\n`);
	await redis.quit();
	process.stdin.destroy();
}

main().catch((error) => {
	process.stderr.write(`${String(error?.stack ?? error)}\n`);
	process.exit(1);
});
