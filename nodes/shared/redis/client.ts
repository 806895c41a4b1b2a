/**
 * The package's Redis client (queue mode, or N8N_TIKTOK_SYNC_REDIS): how it connects, and the one message every
 * Redis failure is reported with. n8n-free: the engines, the stores and their tests use it without n8n.
 */
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';

import { REDIS_SETTING, type RedisTarget } from './settings';

/** Either kind of ioredis client (a single node or a Cluster). */
export type RedisClient = Redis | Cluster;

/** A client with the target it was opened for: what the stores and the lock need to word their failures. */
export interface RedisHandle {
	readonly client: RedisClient;
	readonly target: RedisTarget;
}

/*
 * Client settings for a package running inside n8n's worker:
 * - connectTimeout 3 s: an unreachable host shows up fast.
 * - enableOfflineQueue stays true: commands sent before 'ready' (or during a short reconnect) wait in the queue and
 *   go out once connected, so the engine need not wait for 'ready' itself. What bounds the wait is
 *   maxRetriesPerRequest 1: a queued command fails (MaxRetriesPerRequestError) once two connection attempts in a row
 *   have failed, ~0.2 s for a refused port, ~6 s for a silent host, instead of waiting for ever.
 * - retryStrategy: the client keeps reconnecting in the background (200 ms steps up to 2 s), so Redis coming back
 *   needs no new client.
 * - autoResendUnfulfilledCommands stays true (ioredis' default; with false, a command in flight at a disconnect would
 *   never settle): a command cut off by a disconnect is sent again after reconnecting, so it may run twice. The
 *   engine's scripts must tolerate that (claim/settle with tokens do).
 * - keepAlive 10 s: TCP keep-alive probes on idle connections (ioredis' 0 means the OS default, 2 h on Linux).
 * - enableAutoPipelining false (explicit): commands go out in the order and batches the engine sends them.
 * - No socketTimeout/commandTimeout: blocking commands must stay possible; the engine may bound its own calls.
 * - Not `keyPrefix`: the engine builds its keys with target.keyPrefix (ioredis' keyPrefix is not applied to keys
 *   built inside Lua scripts).
 * - Cluster: clusterRetryStrategy gives up after 5 attempts (~3 s) when no node answers at all, so queued commands
 *   fail ("None of startup nodes is available") rather than wait for ever; the client then ends (status 'end') and
 *   the engine opens a new one on its next use.
 * - An 'error' listener: without one ioredis prints every reconnection error to stderr (n8n's log). Errors still
 *   reach the engine through the rejected commands; the last one is kept for lastConnectionError().
 */
const CLIENT_OPTIONS: RedisOptions = {
	connectTimeout: 3_000,
	maxRetriesPerRequest: 1,
	enableOfflineQueue: true,
	enableReadyCheck: true,
	autoResendUnfulfilledCommands: true,
	enableAutoPipelining: false,
	keepAlive: 10_000,
	retryStrategy: (times: number) => Math.min(times * 200, 2_000),
};

const lastErrors = new WeakMap<RedisClient, Error>();

/** Opens the client (it connects at once). */
export function openRedis(target: RedisTarget): RedisClient {
	let client: RedisClient;
	if (target.clusterNodes) {
		const { host: _host, port: _port, db: _db, ...nodeOptions } = target.options;
		const clusterOptions: ClusterOptions = {
			redisOptions: { ...nodeOptions, ...CLIENT_OPTIONS },
			enableOfflineQueue: true,
			enableReadyCheck: true,
			enableAutoPipelining: false,
			clusterRetryStrategy: (times: number) => (times > 5 ? null : Math.min(times * 200, 1_000)),
			slotsRefreshTimeout: 2_000,
		};
		client = new Cluster(target.clusterNodes, clusterOptions);
	} else {
		client = new Redis({ ...target.options, ...CLIENT_OPTIONS });
	}
	client.on('error', (error: Error) => lastErrors.set(client, error));
	return client;
}

/** The last connection error the client reported (e.g. ECONNREFUSED), a better cause than MaxRetriesPerRequestError. */
export function lastConnectionError(client: RedisClient): Error | undefined {
	return lastErrors.get(client);
}

/**
 * Opens the client and waits until it is ready; on the first connection error (or after `timeoutMs`) closes it and
 * throws an Error with unreachableMessage(). For the engine's start in Redis mode: no silent fallback.
 */
export async function connectRedis(target: RedisTarget, timeoutMs = 5_000): Promise<RedisClient> {
	const client = openRedis(target);
	try {
		await new Promise<void>((resolve, reject) => {
			const done = (error?: Error) => {
				clearTimeout(timer);
				client.off('ready', onReady);
				client.off('error', onError);
				client.off('end', onEnd);
				if (error) reject(error);
				else resolve();
			};
			const onReady = () => done();
			const onError = (error: Error) => done(error);
			const onEnd = () => done(lastErrors.get(client) ?? new Error('the connection closed'));
			const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
			client.on('ready', onReady);
			client.on('error', onError);
			client.on('end', onEnd);
			if (client.status === 'ready') done();
		});
	} catch (cause) {
		client.disconnect();
		throw new Error(unreachableMessage(target, cause));
	}
	return client;
}

function causeText(cause: unknown): string {
	// Duck-typed, not `instanceof Error`: errors from another realm (Node's own, seen from a vm context) are not.
	if (typeof cause === 'object' && cause !== null && typeof (cause as Error).message === 'string') {
		const error = cause as Error & { errors?: unknown[]; code?: unknown };
		// Node's connect with autoSelectFamily reports an AggregateError whose own message is empty.
		let text = error.message;
		if (!text && Array.isArray(error.errors) && error.errors.length > 0) text = error.errors.map(causeText).join('; ');
		const code = typeof error.code === 'string' ? error.code : undefined;
		if (!text) text = code ?? String(error.name ?? 'Error');
		else if (code && !text.includes(code)) text = `${code}: ${text}`;
		return text;
	}
	if (typeof cause === 'string' && cause) return cause;
	return 'unknown error';
}

// n8n replaces an error message that holds a socket error code with a generic one ("The service refused the
// connection"), which would hide the setting and the address: the codes are said in words.
const SOCKET_ERRORS: Record<string, string> = {
	ECONNREFUSED: 'connection refused',
	ECONNRESET: 'connection reset',
	ETIMEDOUT: 'connection timed out',
	ENOTFOUND: 'host not found',
	EHOSTUNREACH: 'host unreachable',
	EAI_AGAIN: 'name lookup failed',
};

function inWords(text: string): string {
	return text.replace(/\b(?:connect )?(E[A-Z]{4,}[A-Z_]*)\b/g, (_match, code: string) => SOCKET_ERRORS[code] ?? code.toLowerCase());
}

function redactedCause(target: RedisTarget, cause: unknown): string {
	let text = causeText(cause);
	const password = target.options.password;
	if (password) text = text.split(password).join('***');
	return inWords(text);
}

function fixFor(target: RedisTarget): string {
	return target.source === REDIS_SETTING
		? `Start Redis there or fix ${REDIS_SETTING}`
		: `Start Redis there or fix ${target.source} (n8n's own queue uses them too), ` +
				`or set ${REDIS_SETTING} to the redis:// URL of another Redis`;
}

/** A clear message when Redis cannot be reached: the setting(s), the address, the cause and what to do. */
export function unreachableMessage(target: RedisTarget, cause: unknown): string {
	const kind = target.clusterNodes ? 'Redis Cluster' : 'Redis';
	return (
		`TikTok Audience Sync cannot reach ${kind} at ${target.address} (from ${target.source}): ${redactedCause(target, cause)}. ` +
		`${fixFor(target)}. ` +
		`${REDIS_SETTING}=off keeps the sync state in the n8n process instead; use it only in regular mode ` +
		`(in queue mode every worker would then pace on its own and together exceed TikTok's rate limits).`
	);
}

/** A Redis failure already worded for the user: which Redis, from which setting, what went wrong and what to do. */
export class RedisUnavailableError extends Error {
	override readonly name = 'RedisUnavailableError';
	constructor(
		message: string,
		readonly cause: unknown,
	) {
		super(message);
	}
}

/** Errors ioredis raises when it has no usable connection (as opposed to Redis answering with an error). */
function isConnectionFailure(error: unknown): boolean {
	if (typeof error !== 'object' || error === null) return false;
	const { name, message, code } = error as { name?: unknown; message?: unknown; code?: unknown };
	if (name === 'MaxRetriesPerRequestError' || name === 'ClusterAllFailedError') return true;
	if (typeof code === 'string' && /^E[A-Z]/.test(code)) return true;
	return typeof message === 'string' && /Connection is closed|None of startup nodes|Stream isn't writeable|Failed to refresh slots/i.test(message);
}

/**
 * Any failure of a Redis call, as the one error the package reports everywhere (the Batch Sync engine, the pacer,
 * the audience-name lock, mirrored lists): a lost connection names the last connection error the client saw (e.g.
 * "connection refused", a better cause than ioredis' "Reached the max retries per request limit"); an error Redis
 * answered with (out of memory, a script error) is quoted. Already-worded errors pass through.
 */
export function redisFailure(target: RedisTarget, client: RedisClient | undefined, cause: unknown): RedisUnavailableError {
	if (cause instanceof RedisUnavailableError) return cause;
	if (isConnectionFailure(cause)) {
		const connectionError = client ? lastConnectionError(client) : undefined;
		return new RedisUnavailableError(unreachableMessage(target, connectionError ?? cause), cause);
	}
	const kind = target.clusterNodes ? 'Redis Cluster' : 'Redis';
	return new RedisUnavailableError(
		`TikTok Audience Sync: ${kind} at ${target.address} (from ${target.source}) answered with an error: ` +
			`${redactedCause(target, cause)}. Check that Redis has memory to spare (maxmemory, policy noeviction) and ` +
			`that the package's keys are not changed by hand.`,
		cause,
	);
}

/**
 * Whether Redis keeps anything across a restart (an append-only file or snapshots). `undefined` when it cannot be
 * told (CONFIG refused, as on some managed services): no warning then.
 */
export async function redisPersists(client: RedisClient): Promise<boolean | undefined> {
	const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
	if (nodes.length === 0) return undefined;
	let persists = true;
	for (const node of nodes) {
		try {
			const [, appendonly] = (await node.config('GET', 'appendonly')) as string[];
			const [, save] = (await node.config('GET', 'save')) as string[];
			if (appendonly !== 'yes' && !(save ?? '').trim()) persists = false;
		} catch {
			return undefined;
		}
	}
	return persists;
}

/** The one warning when Redis keeps nothing (said in n8n's log once, and in Batch Sync's Metrics while users wait). */
export function noPersistenceWarning(target: RedisTarget): string {
	return (
		`Redis at ${target.address} keeps nothing on disk (no append-only file, no snapshots): if it restarts, Batch Sync's ` +
		`pending users and counters and the memory of mirrored lists are lost. Turn on appendonly (or snapshots) in that Redis.`
	);
}
