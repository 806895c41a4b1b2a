/**
 * A worker for the shutdown test (test/redis/shutdown.test.ts): a RedisSyncCoordinator that hands back on SIGTERM,
 * holding claims it cannot send (its pacer never gives a slot). Says 'ready' on stdout once it holds them.
 *   node --import tsx test/redis/shutdownChild.ts <keyPrefix> <port> <n8n-like: 0|1>
 */
import Redis from 'ioredis';

import { MAX_USERS_PER_REQUEST } from '../../nodes/shared/transport/types';
import { RedisSyncCoordinator } from '../../nodes/TikTokBatchSync/engine';

async function main(): Promise<void> {
	const [keyPrefix, port, n8nLike] = process.argv.slice(2);
	if (n8nLike === '1') {
		// What n8n's BaseCommand does: its own once-listener, and it decides when the process exits.
		process.once('SIGTERM', () => setTimeout(() => process.exit(0), 1_000));
	}
	const redis = new Redis({ host: '127.0.0.1', port: Number(port), maxRetriesPerRequest: 1 });
	const coordinator = new RedisSyncCoordinator({ redis, keyPrefix, requestCapacity: MAX_USERS_PER_REQUEST, shutdownOnSignals: true, watch: false });
	const users = Array.from({ length: 4 }, (_, n) => {
		const id = String(n).padStart(64, 'a');
		return { key: id, ids: [id] };
	});
	await coordinator.submit({
		scope: 'wf-shutdown:Batch Sync',
		destination: { advertiserId: 'adv-1', audienceId: 'aud-1', action: 'add', idSchema: ['EMAIL_SHA256'] },
		users,
		send: async () => undefined,
		pacer: { acquire: () => new Promise(() => undefined) },
		settings: { windowMs: 0, usersPerRequest: 1 },
		waitForDelivery: false,
	});
	const base = coordinator.scopeBase('wf-shutdown:Batch Sync');
	while ((await redis.zcard(`${base}lease`)) < 4) await new Promise((resolve) => setTimeout(resolve, 10));
	process.stdout.write('ready\n');
	// Keep running until a signal ends the process.
	setInterval(() => undefined, 1_000);
}

main().catch((error: unknown) => {
	process.stderr.write(`shutdown child failed: ${String(error)}\n`);
	process.exit(1);
});
