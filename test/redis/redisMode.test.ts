import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

import { connectRedis, lastConnectionError, openRedis, unreachableMessage } from '../../nodes/shared/redis/client';
import {
	DEFAULT_KEY_PREFIX,
	PREFIX_SETTING,
	REDIS_SETTING,
	describeMode,
	n8nCommand,
	selectSyncMode,
	type RedisTarget,
	type SyncMode,
} from '../../nodes/shared/redis/settings';

const N8N = '/usr/local/lib/node_modules/n8n/bin/n8n';
const START = ['/usr/local/bin/node', N8N, 'start'];
const WORKER = ['/usr/local/bin/node', N8N, 'worker', '--concurrency=5'];
const WEBHOOK = ['/usr/local/bin/node', N8N, 'webhook'];
const SECRET = 's3cr3t-Pa55';

function redisTarget(mode: SyncMode): RedisTarget {
	if (mode.kind !== 'redis') throw new Error(`expected Redis mode, got ${mode.kind} (${mode.why})`);
	return mode.target;
}

function thrown(fn: () => unknown): Error {
	try {
		fn();
	} catch (error) {
		return error as Error;
	}
	throw new Error('expected a throw');
}

async function freePort(): Promise<number> {
	return await new Promise((resolve, reject) => {
		const server = createServer();
		server.on('error', reject);
		server.listen(0, '127.0.0.1', () => {
			const address = server.address();
			const port = typeof address === 'object' && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

describe('n8nCommand', () => {
	it('finds the command after n8n’s bin script, skipping options', () => {
		expect(n8nCommand(WORKER)).toBe('worker');
		expect(n8nCommand(['node', '/app/node_modules/.bin/n8n', '--tunnel', 'start'])).toBe('start');
		expect(n8nCommand(['node', 'C:\\n8n\\bin\\n8n.js', 'webhook'])).toBe('webhook');
		expect(n8nCommand(['node', N8N])).toBeUndefined();
		// No n8n script among the arguments: the script node runs stands for it.
		expect(n8nCommand(['node', '/srv/wrapper.js', 'worker'])).toBe('worker');
		// A path merely containing "n8n" is not n8n's script.
		expect(n8nCommand(['node', '/home/n8n/run.js', 'worker'])).toBe('worker');
		expect(n8nCommand(['node', '/x/jest', 'test/redis/worker.test.ts'])).toBe('test/redis/worker.test.ts');
	});
});

describe('selectSyncMode: which mode', () => {
	it('regular n8n without the setting → in-process', () => {
		expect(selectSyncMode({}, START)).toEqual({ kind: 'in-process', why: 'regular n8n (not queue mode)' });
		expect(selectSyncMode({ [REDIS_SETTING]: '' }, START).kind).toBe('in-process');
		expect(selectSyncMode({ EXECUTIONS_MODE: 'regular' }, START).kind).toBe('in-process');
	});

	it('a worker or webhook command → Redis from n8n’s settings, even without EXECUTIONS_MODE', () => {
		const worker = selectSyncMode({}, WORKER);
		expect(worker).toEqual({
			kind: 'redis',
			why: 'n8n queue mode: worker command',
			target: {
				address: 'localhost:6379',
				source: 'QUEUE_BULL_REDIS_HOST/PORT',
				options: { host: 'localhost', port: 6379, db: 0 },
				keyPrefix: DEFAULT_KEY_PREFIX,
			},
		});
		expect(selectSyncMode({}, WEBHOOK).why).toBe('n8n queue mode: webhook command');
	});

	it('EXECUTIONS_MODE=queue on main → Redis (quoted values are unquoted like n8n does)', () => {
		expect(selectSyncMode({ EXECUTIONS_MODE: 'queue' }, START).why).toBe('n8n queue mode: EXECUTIONS_MODE=queue');
		expect(selectSyncMode({ EXECUTIONS_MODE: ' "queue" ' }, START).kind).toBe('redis');
	});

	it('N8N_TIKTOK_SYNC_REDIS=off → in-process even in queue mode, and says so', () => {
		const off = selectSyncMode({ [REDIS_SETTING]: 'off' }, WORKER);
		expect(off.kind).toBe('in-process');
		expect(off.why).toContain(`${REDIS_SETTING}=off`);
		expect(off.why).toContain('worker');
		expect(off.why).toContain('per process');
		expect(selectSyncMode({ [REDIS_SETTING]: 'OFF', EXECUTIONS_MODE: 'queue' }, START).kind).toBe('in-process');
		expect(selectSyncMode({ [REDIS_SETTING]: 'off' }, START)).toEqual({
			kind: 'in-process',
			why: `${REDIS_SETTING}=off`,
		});
	});

	it('a URL turns Redis mode on in regular mode and overrides n8n’s connection in queue mode', () => {
		const regular = selectSyncMode({ [REDIS_SETTING]: 'redis://cache.internal:6380/2' }, START);
		expect(regular.why).toBe(`${REDIS_SETTING} is set`);
		expect(redisTarget(regular)).toEqual({
			address: 'cache.internal:6380',
			source: REDIS_SETTING,
			options: { host: 'cache.internal', port: 6380, db: 2 },
			keyPrefix: DEFAULT_KEY_PREFIX,
		});
		const queue = selectSyncMode(
			{ [REDIS_SETTING]: 'redis://other:6379', QUEUE_BULL_REDIS_HOST: 'queue-redis', QUEUE_BULL_REDIS_CLUSTER_NODES: 'a:1' },
			WORKER,
		);
		expect(queue.why).toBe(`n8n queue mode: worker command; ${REDIS_SETTING} names the Redis`);
		expect(redisTarget(queue).address).toBe('other:6379');
		expect(redisTarget(queue).clusterNodes).toBeUndefined();
	});
});

describe('selectSyncMode: n8n’s QUEUE_BULL_REDIS_* settings', () => {
	it('host, port, db, username, password', () => {
		const target = redisTarget(
			selectSyncMode(
				{
					QUEUE_BULL_REDIS_HOST: 'redis.svc',
					QUEUE_BULL_REDIS_PORT: '6390',
					QUEUE_BULL_REDIS_DB: '3',
					QUEUE_BULL_REDIS_USERNAME: 'n8n',
					QUEUE_BULL_REDIS_PASSWORD: SECRET,
				},
				WORKER,
			),
		);
		expect(target.address).toBe('redis.svc:6390');
		expect(target.options).toEqual({ host: 'redis.svc', port: 6390, db: 3, username: 'n8n', password: SECRET });
	});

	it('empty or non-numeric numbers fall back to n8n’s defaults, as in n8n', () => {
		const target = redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_PORT: '', QUEUE_BULL_REDIS_DB: 'x' }, WORKER));
		expect(target.options).toEqual({ host: 'localhost', port: 6379, db: 0 });
	});

	it('TLS: true → tls {}, with servername and certificate validation when given', () => {
		expect(redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_TLS: 'true' }, WORKER)).options.tls).toEqual({});
		expect(redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_TLS: '1' }, WORKER)).options.tls).toEqual({});
		expect(redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_TLS: 'false' }, WORKER)).options.tls).toBeUndefined();
		expect(
			redisTarget(
				selectSyncMode(
					{
						QUEUE_BULL_REDIS_TLS: 'TRUE',
						QUEUE_BULL_REDIS_TLS_SERVERNAME: 'redis.example.com',
						QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE: 'false',
					},
					WORKER,
				),
			).options.tls,
		).toEqual({ servername: 'redis.example.com', rejectUnauthorized: false });
	});

	it('cluster nodes → clusterNodes, address lists them, options keep auth and TLS only', () => {
		const target = redisTarget(
			selectSyncMode(
				{
					QUEUE_BULL_REDIS_CLUSTER_NODES: ' r1:7000, r2:7001 ,,[::1]:7002',
					QUEUE_BULL_REDIS_HOST: 'ignored',
					QUEUE_BULL_REDIS_PASSWORD: SECRET,
					QUEUE_BULL_REDIS_TLS: 'true',
				},
				WORKER,
			),
		);
		expect(target.clusterNodes).toEqual([
			{ host: 'r1', port: 7000 },
			{ host: 'r2', port: 7001 },
			{ host: '::1', port: 7002 },
		]);
		expect(target.address).toBe('r1:7000,r2:7001,[::1]:7002');
		expect(target.source).toBe('QUEUE_BULL_REDIS_CLUSTER_NODES');
		expect(target.options).toEqual({ password: SECRET, tls: {} });
		const error = thrown(() => selectSyncMode({ QUEUE_BULL_REDIS_CLUSTER_NODES: 'r1:7000,r2' }, WORKER));
		expect(error.message).toContain('QUEUE_BULL_REDIS_CLUSTER_NODES');
	});

	describe('_FILE forms', () => {
		let folder: string;
		beforeEach(() => {
			folder = mkdtempSync(join(tmpdir(), 'tiktok-redis-mode-'));
		});
		afterEach(() => {
			rmSync(folder, { recursive: true, force: true });
		});
		const file = (name: string, content: string) => {
			const path = join(folder, name);
			writeFileSync(path, content);
			return path;
		};

		it('every variable can come from a file (trimmed), read through the real file system', () => {
			const env = {
				QUEUE_BULL_REDIS_HOST_FILE: file('host', 'redis.from.file\n'),
				QUEUE_BULL_REDIS_PORT_FILE: file('port', ' 6400\n'),
				QUEUE_BULL_REDIS_DB_FILE: file('db', '4'),
				QUEUE_BULL_REDIS_USERNAME_FILE: file('user', 'svc\n'),
				QUEUE_BULL_REDIS_PASSWORD_FILE: file('password', `${SECRET}\n`),
				QUEUE_BULL_REDIS_TLS_FILE: file('tls', 'true\n'),
				EXECUTIONS_MODE_FILE: file('mode', 'queue\n'),
				[`${PREFIX_SETTING}_FILE`]: file('prefix', 'my-sync\n'),
			};
			const target = redisTarget(selectSyncMode(env, START));
			expect(target.options).toEqual({
				host: 'redis.from.file',
				port: 6400,
				db: 4,
				username: 'svc',
				password: SECRET,
				tls: {},
			});
			expect(target.keyPrefix).toBe('my-sync');
		});

		it('the package URL and cluster nodes too', () => {
			const url = selectSyncMode({ [`${REDIS_SETTING}_FILE`]: file('url', `redis://:${SECRET}@10.0.0.5:6379/1\n`) }, START);
			expect(redisTarget(url).options).toEqual({ host: '10.0.0.5', port: 6379, db: 1, password: SECRET });
			const cluster = selectSyncMode({ QUEUE_BULL_REDIS_CLUSTER_NODES_FILE: file('nodes', 'a:1,b:2\n') }, WORKER);
			expect(redisTarget(cluster).clusterNodes).toEqual([
				{ host: 'a', port: 1 },
				{ host: 'b', port: 2 },
			]);
		});

		it('like n8n, the plain variable wins when both are set (even when empty)', () => {
			const path = file('password', 'from-file');
			expect(
				redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_PASSWORD: 'plain', QUEUE_BULL_REDIS_PASSWORD_FILE: path }, WORKER))
					.options.password,
			).toBe('plain');
			expect(
				redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_PASSWORD: '', QUEUE_BULL_REDIS_PASSWORD_FILE: path }, WORKER))
					.options.password,
			).toBeUndefined();
		});

		it('an unreadable file throws naming the variable', () => {
			const error = thrown(() =>
				selectSyncMode({ QUEUE_BULL_REDIS_PASSWORD_FILE: join(folder, 'missing') }, WORKER),
			);
			expect(error.message).toContain('QUEUE_BULL_REDIS_PASSWORD_FILE');
			expect(error.message).toContain('ENOENT');
		});

		it('the readFile parameter replaces the file system', () => {
			const read = jest.fn((path: string) => (path === '/run/secrets/host' ? 'injected\n' : ''));
			const target = redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_HOST_FILE: '/run/secrets/host' }, WORKER, read));
			expect(target.options.host).toBe('injected');
			expect(read).toHaveBeenCalledWith('/run/secrets/host');
		});
	});
});

describe('selectSyncMode: the URL setting', () => {
	const target = (url: string) => redisTarget(selectSyncMode({ [REDIS_SETTING]: url }, START));

	it('redis:// with user, password, port and db', () => {
		expect(target(`redis://alice:${encodeURIComponent('p@ss:w/rd')}@redis.local:6381/7`)).toEqual({
			address: 'redis.local:6381',
			source: REDIS_SETTING,
			options: { host: 'redis.local', port: 6381, db: 7, username: 'alice', password: 'p@ss:w/rd' },
			keyPrefix: DEFAULT_KEY_PREFIX,
		});
		expect(target('redis://localhost').options).toEqual({ host: 'localhost', port: 6379, db: 0 });
		expect(target('redis://localhost:6379/').options).toEqual({ host: 'localhost', port: 6379, db: 0 });
		expect(target(`redis://:${SECRET}@h`).options).toEqual({ host: 'h', port: 6379, db: 0, password: SECRET });
		expect(target('redis://[::1]:6390').address).toBe('[::1]:6390');
		expect(target('redis://[::1]:6390').options.host).toBe('::1');
		expect(target(' "redis://quoted:1/0" ').options.host).toBe('quoted');
	});

	it('rediss:// → TLS', () => {
		expect(target('rediss://secure.example.com:6380').options).toEqual({
			host: 'secure.example.com',
			port: 6380,
			db: 0,
			tls: {},
		});
		expect(target('REDISS://x').options.tls).toEqual({});
	});

	it('invalid values throw naming the setting and the accepted form, never echoing the password', () => {
		for (const bad of [
			'localhost:6379',
			'http://localhost',
			'on',
			`redis://user:${SECRET}@`,
			`redis://user:${SECRET}@host:99999`,
			`redis://user:${SECRET}@host/db1`,
			`redis://user:${SECRET}@host/1?family=6`,
			`redis://user:${SECRET}%zz@host`,
			`redis://user:${SECRET}/x@host`,
		]) {
			const error = thrown(() => selectSyncMode({ [REDIS_SETTING]: bad }, START));
			expect(error.message).toContain(REDIS_SETTING);
			expect(error.message).toContain('redis://');
			expect(error.message).toContain("'off'");
			expect(error.message).not.toContain(SECRET);
		}
	});
});

describe('selectSyncMode: key prefix', () => {
	const prefix = (env: NodeJS.ProcessEnv) => redisTarget(selectSyncMode(env, WORKER)).keyPrefix;
	const refusal = (env: NodeJS.ProcessEnv) => thrown(() => selectSyncMode(env, WORKER)).message;

	it('defaults, takes the setting, drops a trailing colon', () => {
		expect(prefix({})).toBe('tiktok-audience-sync');
		expect(prefix({ [PREFIX_SETTING]: 'acme-tiktok' })).toBe('acme-tiktok');
		expect(prefix({ [PREFIX_SETTING]: 'acme:tiktok:' })).toBe('acme:tiktok');
	});

	it('refuses empty, braces, whitespace and n8n’s own prefixes, naming the setting', () => {
		for (const bad of ['', ':', 'a{b}', '{tag}', 'has space', 'bull', 'bull:x', 'bullish', 'n8n', 'n8n-tiktok']) {
			const message = refusal({ [PREFIX_SETTING]: bad });
			expect(message).toContain(PREFIX_SETTING);
		}
		expect(refusal({ [PREFIX_SETTING]: 'bull' })).toContain('QUEUE_BULL_PREFIX');
		expect(refusal({ [PREFIX_SETTING]: 'n8n' })).toContain('N8N_REDIS_KEY_PREFIX');
	});

	it('follows QUEUE_BULL_PREFIX and N8N_REDIS_KEY_PREFIX when n8n’s prefixes are changed', () => {
		expect(prefix({ [PREFIX_SETTING]: 'bull-tiktok', QUEUE_BULL_PREFIX: 'queue' })).toBe('bull-tiktok');
		expect(refusal({ [PREFIX_SETTING]: 'queue-x', QUEUE_BULL_PREFIX: 'queue' })).toContain('QUEUE_BULL_PREFIX');
		expect(refusal({ N8N_REDIS_KEY_PREFIX: 'tiktok' })).toContain('N8N_REDIS_KEY_PREFIX');
		// n8n's keys would lie under ours.
		expect(refusal({ [PREFIX_SETTING]: 'acme', QUEUE_BULL_PREFIX: 'acme:bull' })).toContain('QUEUE_BULL_PREFIX');
	});

	it('is not checked in in-process mode (an unused setting does not stop regular n8n)', () => {
		expect(selectSyncMode({ [PREFIX_SETTING]: 'bull' }, START).kind).toBe('in-process');
	});
});

describe('describeMode and unreachableMessage', () => {
	it('one log line per mode, without the password', () => {
		const mode = selectSyncMode(
			{ QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PASSWORD: SECRET, QUEUE_BULL_REDIS_USERNAME: 'u' },
			WORKER,
		);
		expect(describeMode(mode)).toBe(
			'TikTok Audience Sync: Redis mode (n8n queue mode: worker command) at 127.0.0.1:6379, keys under tiktok-audience-sync:',
		);
		expect(describeMode(selectSyncMode({}, START))).toBe(
			'TikTok Audience Sync: in-process mode (regular n8n (not queue mode))',
		);
		const cluster = selectSyncMode({ QUEUE_BULL_REDIS_CLUSTER_NODES: 'a:1,b:2', QUEUE_BULL_REDIS_PASSWORD: SECRET }, WORKER);
		expect(describeMode(cluster)).toContain('at Redis Cluster a:1,b:2');
		const url = selectSyncMode({ [REDIS_SETTING]: `rediss://u:${SECRET}@h:1/2` }, START);
		for (const line of [describeMode(mode), describeMode(cluster), describeMode(url), url.why, mode.why]) {
			expect(line).not.toContain(SECRET);
		}
	});

	it('names the address, the setting, the cause and the way out, and scrubs the password from the cause', () => {
		const target = redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_PASSWORD: SECRET }, WORKER));
		const cause = Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:6379 (${SECRET})`), { code: 'ECONNREFUSED' });
		const message = unreachableMessage(target, cause);
		expect(message).toContain('localhost:6379');
		expect(message).toContain('QUEUE_BULL_REDIS_HOST/PORT');
		// The socket code is said in words: n8n replaces a message holding one with a generic text.
		expect(message).toContain('connection refused 127.0.0.1:6379');
		expect(message).not.toContain('ECONNREFUSED');
		expect(message).toContain(`${REDIS_SETTING}=off`);
		expect(message).toContain('only in regular mode');
		expect(message).not.toContain(SECRET);
		// An AggregateError-like cause with an empty message (Node's connect with autoSelectFamily).
		const aggregate = Object.assign(new Error(''), {
			code: 'ECONNREFUSED',
			errors: [new Error('connect ECONNREFUSED ::1:6379'), new Error('connect ECONNREFUSED 127.0.0.1:6379')],
		});
		expect(unreachableMessage(target, aggregate)).toContain('connection refused ::1:6379; connection refused 127.0.0.1:6379');
		expect(unreachableMessage(target, undefined)).toContain('unknown error');
		const own = redisTarget(selectSyncMode({ [REDIS_SETTING]: 'redis://h:1' }, START));
		expect(unreachableMessage(own, 'timeout')).toContain(`fix ${REDIS_SETTING}`);
	});
});

describe('openRedis (real sockets)', () => {
	// ioredis' disconnect() of a connection that already failed leaves a disconnectTimeout (2 s) timer behind
	// (AbstractConnector.disconnect waits for a 'close' that already happened). Harmless in n8n; waiting it out here
	// lets jest exit cleanly.
	afterAll(async () => await new Promise((resolve) => setTimeout(resolve, 2_100)));

	it('answers PING at the local Redis (127.0.0.1:6379), then quits', async () => {
		const target = redisTarget(selectSyncMode({ [REDIS_SETTING]: 'redis://127.0.0.1:6379' }, START));
		const client = openRedis(target);
		try {
			// Sent before 'ready': the offline queue holds it until the connection is up.
			expect(client.status).not.toBe('ready');
			await expect(client.ping()).resolves.toBe('PONG');
			expect((client as Redis).options.enableAutoPipelining).toBe(false);
			expect((client as Redis).options.maxRetriesPerRequest).toBe(1);
		} finally {
			await client.quit();
		}
	});

	it('connectRedis resolves ready at the local Redis', async () => {
		const target = redisTarget(selectSyncMode({ QUEUE_BULL_REDIS_HOST: '127.0.0.1' }, WORKER));
		const client = await connectRedis(target);
		try {
			expect(client.status).toBe('ready');
			await expect(client.ping()).resolves.toBe('PONG');
		} finally {
			await client.quit();
		}
	});

	it('a closed port: a command fails within ~5 s and the message names the address and the setting', async () => {
		const port = await freePort();
		const target = redisTarget(
			selectSyncMode(
				{ QUEUE_BULL_REDIS_HOST: '127.0.0.1', QUEUE_BULL_REDIS_PORT: String(port), QUEUE_BULL_REDIS_PASSWORD: SECRET },
				WORKER,
			),
		);
		const client = openRedis(target);
		const started = Date.now();
		let failure: unknown;
		try {
			await client.ping();
		} catch (error) {
			failure = error;
		}
		const elapsed = Date.now() - started;
		try {
			expect(failure).toBeInstanceOf(Error);
			expect(elapsed).toBeLessThan(5_000);
			const cause = lastConnectionError(client);
			expect(cause?.message ?? '').toContain('ECONNREFUSED');
			const message = unreachableMessage(target, cause ?? failure);
			expect(message).toContain(`127.0.0.1:${port}`);
			expect(message).toContain('QUEUE_BULL_REDIS_HOST/PORT');
			expect(message).toContain('connection refused');
			expect(message).not.toContain(SECRET);
		} finally {
			client.disconnect();
		}
	});

	it('connectRedis at a closed port rejects within ~5 s with the clear message', async () => {
		const port = await freePort();
		const target = redisTarget(selectSyncMode({ [REDIS_SETTING]: `redis://:${SECRET}@127.0.0.1:${port}` }, START));
		const started = Date.now();
		const error = await connectRedis(target).then(
			() => new Error('connected to a closed port'),
			(rejection: Error) => rejection,
		);
		expect(Date.now() - started).toBeLessThan(5_000);
		expect(error.message).toContain(`cannot reach Redis at 127.0.0.1:${port} (from ${REDIS_SETTING})`);
		expect(error.message).toContain('connection refused');
		expect(error.message).not.toContain(SECRET);
	});

	it('a Cluster at a closed port fails its commands within ~5 s instead of waiting for ever', async () => {
		const port = await freePort();
		const target = redisTarget(
			selectSyncMode({ QUEUE_BULL_REDIS_CLUSTER_NODES: `127.0.0.1:${port}` }, WORKER),
		);
		const client = openRedis(target);
		const started = Date.now();
		const failure = await client.ping().then(
			() => undefined,
			(error: Error) => error,
		);
		expect(failure).toBeInstanceOf(Error);
		expect(Date.now() - started).toBeLessThan(5_000);
		expect(unreachableMessage(target, failure)).toContain(
			`Redis Cluster at 127.0.0.1:${port} (from QUEUE_BULL_REDIS_CLUSTER_NODES)`,
		);
		client.disconnect();
	});
});
