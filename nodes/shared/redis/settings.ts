/**
 * Where the package keeps the state its nodes share (Batch Sync's engine, the pacer, mirrored lists), chosen once per
 * process, and which Redis it uses.
 *
 * - Regular n8n (one process): in the process (Batch Sync's journal and mirrors on disk in n8n's user
 *   folder).
 * - n8n queue mode (`n8n worker`, `n8n webhook`, or EXECUTIONS_MODE=queue): Redis, so every worker shares one pacer,
 *   one window per scope, exact counts and one memory per mirror. The connection is n8n's own (QUEUE_BULL_REDIS_*), or
 *   a separate Redis named by N8N_TIKTOK_SYNC_REDIS.
 * - N8N_TIKTOK_SYNC_REDIS=off keeps the state in the process even in queue mode (the caller warns: pacing is then per
 *   process). A redis:// URL in N8N_TIKTOK_SYNC_REDIS turns Redis mode on in regular mode too.
 *
 * n8n-free on purpose: the engines, the stores and their tests use it without n8n. Nothing here ever puts a password
 * in a message.
 */
import { readFileSync } from 'node:fs';
import type { RedisOptions } from 'ioredis';

/** The package setting: a redis:// or rediss:// URL (a Redis of its own), or 'off'. */
export const REDIS_SETTING = 'N8N_TIKTOK_SYNC_REDIS';
/** The key prefix of the package's Redis keys, without a trailing ':'. */
export const PREFIX_SETTING = 'N8N_TIKTOK_SYNC_REDIS_PREFIX';
export const DEFAULT_KEY_PREFIX = 'tiktok-audience-sync';

export interface RedisTarget {
	/** host:port (or the cluster nodes joined by ','), never a password: for log lines and error messages */
	address: string;
	/** which setting(s) it came from, e.g. 'N8N_TIKTOK_SYNC_REDIS' or 'QUEUE_BULL_REDIS_HOST/PORT' or 'QUEUE_BULL_REDIS_CLUSTER_NODES' */
	source: string;
	/** ioredis options for a single node (host, port, db, username, password, tls) */
	options: RedisOptions;
	/** set for Redis Cluster: the nodes; options then go to `redisOptions` of the Cluster */
	clusterNodes?: Array<{ host: string; port: number }>;
	/** Without a trailing ':'. Not given to ioredis as `keyPrefix`: the engine builds its keys (and hash tags) itself. */
	keyPrefix: string;
}

export type SyncMode = { kind: 'in-process'; why: string } | { kind: 'redis'; why: string; target: RedisTarget };

type ReadFile = (path: string) => string;

const defaultReadFile: ReadFile = (path) => readFileSync(path, 'utf8');

/*
 * Reading a variable the way n8n does (@n8n/config, decorators.js `readEnv`): when the plain variable is present in
 * the environment it wins, even when empty; only when it is absent is `<NAME>_FILE` read (the file's content,
 * trimmed). Mirroring n8n matters: in queue mode the package must reach the very Redis n8n's queue uses. The package's
 * own settings (N8N_TIKTOK_SYNC_REDIS, N8N_TIKTOK_SYNC_REDIS_PREFIX) follow the same rule, so a URL with a password
 * can come from a secret file.
 */
function readVariable(env: NodeJS.ProcessEnv, name: string, readFile: ReadFile): string | undefined {
	const plain = env[name];
	if (plain !== undefined) return plain;
	const path = env[`${name}_FILE`];
	if (!path) return undefined;
	let content: string;
	try {
		content = readFile(path);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException)?.code;
		throw new Error(`${name}_FILE names ${path}, which cannot be read${code ? ` (${code})` : ''}`);
	}
	return content.trim();
}

/** n8n's normalizeEnvValue for string settings: trimmed, one pair of surrounding quotes removed. */
function normalize(value: string): string {
	return value.trim().replace(/^(['"])(.*)\1$/, '$2');
}

function readString(env: NodeJS.ProcessEnv, name: string, readFile: ReadFile): string | undefined {
	const value = readVariable(env, name, readFile);
	return value === undefined ? undefined : normalize(value);
}

/** Like n8n: empty or not a number → the default (n8n logs a warning and uses its default; so must we, to match). */
function readNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, readFile: ReadFile): number {
	const value = readVariable(env, name, readFile);
	if (value === undefined || normalize(value) === '') return fallback;
	const parsed = Number(value);
	return Number.isNaN(parsed) ? fallback : parsed;
}

/** Like n8n: 'true'/'1' and 'false'/'0' (any case); anything else → the default. */
function readBoolean(env: NodeJS.ProcessEnv, name: string, fallback: boolean, readFile: ReadFile): boolean {
	const value = readVariable(env, name, readFile)?.toLowerCase();
	if (value === 'true' || value === '1') return true;
	if (value === 'false' || value === '0') return false;
	return fallback;
}

const N8N_BIN = /^n8n(\.[cm]?js)?$/;

/**
 * n8n's command (`start`, `worker`, `webhook`, …) from process.argv: n8n runs as `node …/bin/n8n worker
 * [--concurrency=N]` (or through a `…/.bin/n8n` link). The command is the first argument after the n8n script that is
 * not an option. When no argument looks like n8n's script (a wrapper), the script node runs (argv[1]) stands for it.
 */
export function n8nCommand(argv: readonly string[] = process.argv): string | undefined {
	let script = 1;
	for (let i = 1; i < argv.length; i++) {
		const base = argv[i].split(/[\\/]/).pop() ?? '';
		if (N8N_BIN.test(base)) {
			script = i;
			break;
		}
	}
	for (let i = script + 1; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === '' || arg.startsWith('-')) continue;
		return arg;
	}
	return undefined;
}

/** Why n8n runs in queue mode, or undefined in regular mode. */
function queueModeReason(env: NodeJS.ProcessEnv, argv: readonly string[], readFile: ReadFile): string | undefined {
	const command = n8nCommand(argv);
	// A worker forces queue mode even when EXECUTIONS_MODE is unset (n8n's commands/worker.js); webhook processes only
	// exist in queue mode.
	if (command === 'worker' || command === 'webhook') return `n8n queue mode: ${command} command`;
	if (readString(env, 'EXECUTIONS_MODE', readFile) === 'queue') return 'n8n queue mode: EXECUTIONS_MODE=queue';
	return undefined;
}

const URL_FORM = "a redis:// or rediss:// URL (redis://[user:password@]host[:port][/db], rediss:// for TLS) or 'off'";

function invalidUrl(name: string, problem: string): Error {
	// Never echoes the value: it may hold a password (even a malformed one).
	return new Error(`${name} is not valid: ${problem}. Accepted: ${URL_FORM}.`);
}

export function formatAddress(host: string, port: number): string {
	return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function parseRedisUrl(name: string, raw: string): { options: RedisOptions; address: string } {
	const scheme = /^(rediss?):\/\//i.exec(raw);
	if (!scheme) throw invalidUrl(name, 'it does not start with redis:// or rediss://');
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		throw invalidUrl(name, 'it is not a URL (percent-encode special characters of the user name and password)');
	}
	const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
	if (!host) throw invalidUrl(name, 'it names no host');
	const port = url.port ? Number(url.port) : 6379;
	if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidUrl(name, 'its port is not 1–65535');
	if (url.search || url.hash) throw invalidUrl(name, 'it has a query or fragment (?… or #…), which is not accepted');
	let db = 0;
	if (url.pathname && url.pathname !== '/') {
		const match = /^\/(\d{1,5})\/?$/.exec(url.pathname);
		if (!match) throw invalidUrl(name, 'its path must be a database number (e.g. /0)');
		db = Number(match[1]);
	}
	let username: string;
	let password: string;
	try {
		username = decodeURIComponent(url.username);
		password = decodeURIComponent(url.password);
	} catch {
		throw invalidUrl(name, 'its user name or password has a malformed %-escape');
	}
	const options: RedisOptions = { host, port, db };
	if (username) options.username = username;
	if (password) options.password = password;
	if (scheme[1].toLowerCase() === 'rediss') options.tls = {};
	return { options, address: formatAddress(host, port) };
}

function parseClusterNodes(name: string, value: string): Array<{ host: string; port: number }> {
	const nodes = value
		.split(',')
		.map((pair) => pair.trim())
		.filter((pair) => pair.length > 0)
		.map((pair) => {
			const colon = pair.lastIndexOf(':');
			const host = (colon > 0 ? pair.slice(0, colon) : pair).replace(/^\[(.*)\]$/, '$1');
			const port = colon > 0 ? Number(pair.slice(colon + 1)) : NaN;
			if (!host || !Number.isInteger(port) || port < 1 || port > 65535) {
				throw new Error(`${name} is not valid: "${pair}" is not host:port. Accepted: host:port,host:port,…`);
			}
			return { host, port };
		});
	if (nodes.length === 0) throw new Error(`${name} is not valid: it names no node. Accepted: host:port,host:port,…`);
	return nodes;
}

/** The connection n8n's own queue uses (@n8n/config scaling-mode.config.js, QUEUE_BULL_REDIS_*). */
function n8nQueueConnection(
	env: NodeJS.ProcessEnv,
	readFile: ReadFile,
): Pick<RedisTarget, 'address' | 'source' | 'options' | 'clusterNodes'> {
	const options: RedisOptions = {};
	const username = readString(env, 'QUEUE_BULL_REDIS_USERNAME', readFile) ?? '';
	const password = readString(env, 'QUEUE_BULL_REDIS_PASSWORD', readFile) ?? '';
	if (username) options.username = username;
	if (password) options.password = password;
	if (readBoolean(env, 'QUEUE_BULL_REDIS_TLS', false, readFile)) {
		const tls: NonNullable<RedisOptions['tls']> = {};
		const servername = readString(env, 'QUEUE_BULL_REDIS_TLS_SERVERNAME', readFile) ?? '';
		if (servername) tls.servername = servername;
		if (!readBoolean(env, 'QUEUE_BULL_REDIS_TLS_VALIDATE_CERTIFICATE', true, readFile)) tls.rejectUnauthorized = false;
		options.tls = tls;
	}
	const clusterValue = readString(env, 'QUEUE_BULL_REDIS_CLUSTER_NODES', readFile) ?? '';
	if (clusterValue) {
		// Like n8n: with cluster nodes, HOST/PORT/DB are not used (a Cluster has only db 0).
		const clusterNodes = parseClusterNodes('QUEUE_BULL_REDIS_CLUSTER_NODES', clusterValue);
		return {
			address: clusterNodes.map((node) => formatAddress(node.host, node.port)).join(','),
			source: 'QUEUE_BULL_REDIS_CLUSTER_NODES',
			options,
			clusterNodes,
		};
	}
	const host = readString(env, 'QUEUE_BULL_REDIS_HOST', readFile) || 'localhost';
	const port = readNumber(env, 'QUEUE_BULL_REDIS_PORT', 6379, readFile);
	const db = readNumber(env, 'QUEUE_BULL_REDIS_DB', 0, readFile);
	return {
		address: formatAddress(host, port),
		source: 'QUEUE_BULL_REDIS_HOST/PORT',
		options: { host, port, db, ...options },
	};
}

/**
 * The package's key prefix, without a trailing ':'. Refused: empty, '{' or '}' (the engine adds Cluster hash tags
 * itself), whitespace, and anything that could mix with n8n's own keys: a prefix starting with n8n's queue prefix
 * (QUEUE_BULL_PREFIX, 'bull') or n8n's cache prefix (N8N_REDIS_KEY_PREFIX, 'n8n'), or one under which n8n's keys lie.
 */
function resolveKeyPrefix(env: NodeJS.ProcessEnv, readFile: ReadFile): string {
	const raw = readString(env, PREFIX_SETTING, readFile);
	const prefix = (raw ?? DEFAULT_KEY_PREFIX).replace(/:+$/, '');
	const refuse = (problem: string) =>
		new Error(
			`${PREFIX_SETTING} is not valid: ${problem}. Choose a prefix of its own, e.g. '${DEFAULT_KEY_PREFIX}' (the default).`,
		);
	if (prefix === '') throw refuse('it is empty');
	if (/[{}]/.test(prefix)) throw refuse(`"${prefix}" contains '{' or '}' (the engine adds its own hash tags)`);
	if (/[\s\x00-\x1f\x7f]/.test(prefix)) throw refuse(`"${prefix}" contains whitespace or control characters`);
	const reserved: Array<[string, string]> = [
		['QUEUE_BULL_PREFIX', readString(env, 'QUEUE_BULL_PREFIX', readFile) ?? 'bull'],
		['N8N_REDIS_KEY_PREFIX', readString(env, 'N8N_REDIS_KEY_PREFIX', readFile) ?? 'n8n'],
	];
	for (const [name, value] of reserved) {
		const theirs = value.replace(/:+$/, '');
		if (!theirs) continue;
		if (prefix.startsWith(theirs) || theirs.startsWith(`${prefix}:`)) {
			throw refuse(`"${prefix}" overlaps n8n's own key prefix "${theirs}" (${name})`);
		}
	}
	return prefix;
}

/**
 * Decides the mode. Throws (naming the setting, never echoing a password) when N8N_TIKTOK_SYNC_REDIS, the key prefix
 * or n8n's Redis settings are unusable in a mode that needs them. Only reads; opens nothing.
 */
export function selectSyncMode(
	env: NodeJS.ProcessEnv = process.env,
	argv: string[] = process.argv,
	readFile: ReadFile = defaultReadFile,
): SyncMode {
	const queueReason = queueModeReason(env, argv, readFile);
	const setting = readString(env, REDIS_SETTING, readFile) ?? '';

	if (setting.toLowerCase() === 'off') {
		return queueReason
			? {
					kind: 'in-process',
					why: `${REDIS_SETTING}=off although ${queueReason}: pacing, batching and counts are per process`,
				}
			: { kind: 'in-process', why: `${REDIS_SETTING}=off` };
	}
	if (setting) {
		const { options, address } = parseRedisUrl(REDIS_SETTING, setting);
		const keyPrefix = resolveKeyPrefix(env, readFile);
		return {
			kind: 'redis',
			why: queueReason ? `${queueReason}; ${REDIS_SETTING} names the Redis` : `${REDIS_SETTING} is set`,
			target: { address, source: REDIS_SETTING, options, keyPrefix },
		};
	}
	if (!queueReason) return { kind: 'in-process', why: 'regular n8n (not queue mode)' };
	const connection = n8nQueueConnection(env, readFile);
	const keyPrefix = resolveKeyPrefix(env, readFile);
	return { kind: 'redis', why: queueReason, target: { ...connection, keyPrefix } };
}

/** One line for n8n's log. */
export function describeMode(mode: SyncMode): string {
	if (mode.kind === 'in-process') return `TikTok Audience Sync: in-process mode (${mode.why})`;
	const { target } = mode;
	const cluster = target.clusterNodes ? 'Redis Cluster ' : '';
	return `TikTok Audience Sync: Redis mode (${mode.why}) at ${cluster}${target.address}, keys under ${target.keyPrefix}:`;
}
