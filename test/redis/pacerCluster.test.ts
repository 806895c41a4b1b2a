/*
 * RedisPacer on a real 3-node Redis Cluster (test/harness/redisCluster.ts, throwaway, on loopback): the script runs
 * on the node that owns the app's {app:…} slot and touches only the keys passed to it.
 */
import { existsSync } from 'node:fs';
import { connect } from 'node:net';

import { Cluster } from 'ioredis';

import { RedisPacer, redisPacerKeys } from '../../nodes/shared/redis/pacer';
import { startRedisCluster, type RedisClusterHandle } from '../harness/redisCluster';
import { maxInSlidingWindow, minGap } from './stamps';

const prefix = 'tiktok-pacer-cluster-test';

let cluster: RedisClusterHandle;
let client: Cluster;

function processExists(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

async function accepts(port: number): Promise<boolean> {
	return await new Promise((resolve) => {
		const socket = connect({ host: '127.0.0.1', port });
		socket.once('connect', () => {
			socket.destroy();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

beforeAll(async () => {
	const started = Date.now();
	cluster = await startRedisCluster();
	console.log(`cluster up in ${Date.now() - started} ms on ports ${cluster.nodes.map((n) => n.port).join(', ')}`);
	client = new Cluster(cluster.nodes, { redisOptions: { maxRetriesPerRequest: 1 } });
	await client.ping();
});

afterAll(async () => {
	client?.disconnect();
	await cluster?.stop();
});

describe('RedisPacer on Redis Cluster', () => {
	it('paces 60 acquires at most 50 per sliding second', async () => {
		const pacer = new RedisPacer(client, { keyPrefix: prefix, appKey: 'cluster-app-1' });
		const stamps: number[] = [];
		const started = Date.now();
		// Admission times as Redis stored them (exact under load; see pacer.test.ts).
		for (let i = 0; i < 60; i++) stamps.push(await pacer.admit());
		const spanS = (stamps[59] - stamps[0]) / 1e6;
		console.log(
			`cluster: 60 acquires in ${Date.now() - started} ms, ${(59 / spanS).toFixed(1)}/s, ` +
				`max ${maxInSlidingWindow(stamps)} per sliding second, min gap ${(minGap(stamps) / 1000).toFixed(2)} ms`,
		);
		expect(maxInSlidingWindow(stamps)).toBeLessThanOrEqual(50);
		expect(minGap(stamps)).toBeGreaterThanOrEqual(21_000);
		expect(spanS).toBeGreaterThanOrEqual((59 * 21) / 1000 - 0.01);
		const { app } = redisPacerKeys(prefix, 'cluster-app-1');
		expect(await client.pttl(app)).toBeGreaterThan(0);
	});

	it('runs the two-key script (caller + app) in one slot', async () => {
		const options = { keyPrefix: prefix, appKey: 'cluster-app-2', callerKey: 'caller', requestsPerSecond: 20 };
		const keys = redisPacerKeys(prefix, options.appKey, options);
		expect(await client.cluster('KEYSLOT', keys.app)).toBe(await client.cluster('KEYSLOT', keys.caller as string));
		const pacer = new RedisPacer(client, options);
		const stamps: number[] = [];
		for (let i = 0; i < 15; i++) stamps.push(await pacer.admit());
		expect(maxInSlidingWindow(stamps)).toBeLessThanOrEqual(20);
		expect(minGap(stamps)).toBeGreaterThanOrEqual(52_500);
		expect(await client.pttl(keys.caller as string)).toBeGreaterThan(0);
	});

	it("harness stop() leaves no redis-server process, port or folder", async () => {
		client.disconnect();
		const { pids, nodes, dir } = cluster;
		expect(pids.every(processExists)).toBe(true);
		await cluster.stop();
		expect(pids.filter(processExists)).toEqual([]);
		for (const { port } of nodes) expect(await accepts(port)).toBe(false);
		expect(existsSync(dir)).toBe(false);
	});
});
