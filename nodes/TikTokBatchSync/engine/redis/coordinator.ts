import { randomUUID } from 'node:crypto';

import { digest, taggedKey } from '../../../shared/redis/keys';
import type { Clock } from '../clock';
import type { Counters } from '../counters';
import { StateUnavailableError } from '../errors';
import { decodeJournalChunks, parseJournal } from '../journal';
import { KEY_MARGIN_MS } from '../limits';
import type { Rejection } from '../runResult';
import { Scheduler, type ScopeRuntime } from '../scheduler';
import { DEFAULT_RETRY_HORIZON_MS, resolveSettings, type SyncSettings } from '../settings';
import { shutDownOnSignals } from '../shutdown';
import type { RequestPacer, SendMapping, SyncUser } from '../types';
import { checkPackable, packJournalRows } from './rows';
import { SCRIPTS } from './scripts';
import { destinationDigest, readCounters, RedisStore, type RedisClaim, type RedisClient, type RedisPlacement, type ScriptCaller } from './store';
import { Watch, WATCH_BLOCK_MS } from './watch';

export type { RedisClient } from './store';

export interface RedisCoordinatorOptions {
	redis: RedisClient;
	/** Every key starts with `<keyPrefix>:` (never n8n's own `bull` or `n8n`). */
	keyPrefix: string;
	/** Users the receiving API takes per request (TikTok: 10,000). */
	requestCapacity: number;
	/** Times windows, retries and leases (the pacer keeps to Redis's clock). Tests pass a fake one. */
	clock?: Clock;
	random?: () => number;
	/** Requests of one scope this process sends at once. */
	maxRequestsInFlight?: number;
	/** How long a claimed request is this process's before another may send it (renewed while sending). */
	leaseMs?: number;
	/**
	 * Listen for other processes' work and settles with a blocking read per scope (default true). Off (tests on a
	 * manual clock): only this process's own timers and settles move it, and waiters look again every `waitPollMs`.
	 */
	watch?: boolean;
	/** With `watch` off: real-time pause between two looks of a waiting run or flush. */
	waitPollMs?: number;
	/** Hand back and finish on SIGTERM/SIGINT (n8n's graceful shutdown). The nodes' engine sets it. */
	shutdownOnSignals?: boolean;
}

/** With watch on, a waiter also looks again after this long without being told anything (a lost wake-up). */
const WAITER_RECHECK_MS = 5_000;

const prepared = new WeakSet<object>();

function isCluster(redis: RedisClient): boolean {
	return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * The Batch Sync engine for n8n queue mode: the scheduler on a Redis store, so every process (main, webhook
 * processors, workers) admits users into one shared window per audience, claims requests with a lease and a token,
 * and settles them atomically: Max Pending Users, the counters and the retry schedule are the scope's, not a
 * process's. Requests go out through the pacer it is given (RedisPacer: one budget per TikTok app for all processes).
 */
export class RedisSyncCoordinator extends Scheduler<RedisClaim, RedisPlacement, RedisStore> {
	readonly kind = 'redis';
	private readonly redis: RedisClient;
	private readonly scripts: ScriptCaller;
	private readonly keyPrefix: string;
	private readonly watching: boolean;
	/** This process, for the wake-ups other processes send it. */
	private readonly processId = randomUUID().slice(0, 12);
	/** The one blocking read of this process over all its scopes (standalone Redis), or one per scope (Cluster). */
	private shared?: Watch;
	private readonly watches = new Map<string, Watch>();
	/** Until when this process is registered as having runs waiting, per scope (engine clock). */
	private readonly registeredUntil = new Map<string, number>();
	private stopListening?: () => void;

	constructor(options: RedisCoordinatorOptions) {
		super(options);
		this.redis = options.redis;
		this.keyPrefix = options.keyPrefix;
		this.watching = options.watch ?? true;
		this.recheckMs = this.watching ? WAITER_RECHECK_MS : Math.max(1, options.waitPollMs ?? 25);
		if (!prepared.has(this.redis)) {
			for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: 1, lua });
			prepared.add(this.redis);
		}
		this.scripts = this.redis as unknown as ScriptCaller;
		if (options.shutdownOnSignals) this.stopListening = shutDownOnSignals(this);
	}

	/** The client and key prefix it works on (another coordinator on both shares its state: a restart). */
	get client(): RedisClient {
		return this.redis;
	}

	get prefix(): string {
		return this.keyPrefix;
	}

	/** The key base of a scope: its hash tag keeps all its keys in one Redis Cluster slot. */
	scopeBase(scopeName: string): string {
		return `${this.keyPrefix}:{s:${digest(scopeName)}}:`;
	}

	/** The scope's counters, as every process has moved them. */
	report(scopeName: string): Promise<Counters> {
		return readCounters(this.redis, this.scopeBase(scopeName));
	}

	/**
	 * Moves a static-data journal (written by the in-process engine) into Redis, once per journal whatever number
	 * of processes try: its users are queued for sending now, before anything Redis holds for the scope, its counters
	 * added. Returns the users moved in.
	 */
	async importJournal(scopeName: string, journal: unknown, send: SendMapping, pacer: RequestPacer, settings?: Partial<SyncSettings>): Promise<{ restoredUsers: number }> {
		if (journal === undefined || journal === null) return { restoredUsers: 0 };
		const saved = parseJournal(journal);
		const scope = this.scopeOf(scopeName);
		if (settings) scope.settings = resolveSettings(settings, this.requestCapacity);
		const { chunks, users } = decodeJournalChunks(saved, scope.settings.usersPerRequest);
		const args: Array<string | number> = [];
		for (const chunk of chunks) {
			const batch = chunk.toBatch();
			const { advertiserId, audienceId, idSchema, action } = chunk.destination;
			args.push(
				destinationDigest(chunk.destination),
				JSON.stringify({ advertiserId, audienceId, idSchema }),
				action === 'delete' ? 'd' : 'a',
				chunk.users,
				packJournalRows(batch.columns, batch.rows, action, chunk.lastEnteredAt),
				batch.rows,
				chunk.lastEnteredAt,
				chunk.failures,
				chunk.lastError ?? '',
			);
		}
		const { pending: _pending, ...counters } = saved.counters;
		await this.useSender(scope, send, pacer);
		const imported = await scope.store.run(
			'tiktokSyncImport',
			`${saved.writer}:${saved.savedAt}`,
			this.clock.now(),
			scope.settings.retryHorizonMs,
			JSON.stringify(counters),
			users,
			...args,
		);
		this.pump(scope);
		return { restoredUsers: Number(imported) === 1 ? users : 0 };
	}

	/**
	 * A small shared directory (e.g. a workflow's Batch Sync nodes and what each last ran with), so a process that
	 * never saw a member still finds it. Expires with the scopes' keys.
	 */
	async remember(group: string, member: string, value: string): Promise<void> {
		const key = taggedKey(this.keyPrefix, 'g', group, 'members');
		await this.redis.hset(key, member, value);
		await this.redis.pexpire(key, DEFAULT_RETRY_HORIZON_MS + KEY_MARGIN_MS);
	}

	async members(group: string): Promise<Record<string, string>> {
		return this.redis.hgetall(taggedKey(this.keyPrefix, 'g', group, 'members'));
	}

	reset(): void {
		this.stopWatches();
		super.reset();
	}

	async shutdown(waitMs?: number): Promise<void> {
		this.stopListening?.();
		await super.shutdown(waitMs);
		this.stopWatches();
	}

	// ---- the scheduler's hooks ----

	protected newStore(name: string): RedisStore {
		return new RedisStore(this.redis, this.scripts, this.scopeBase(name), this.activity);
	}

	protected checkStorable(users: ReadonlyArray<SyncUser>): void {
		checkPackable(users);
	}

	protected unavailable(error: unknown, rejectedUsers: number): Rejection {
		return new StateUnavailableError(`Batch Sync could not reach its shared state in Redis: ${(error as Error).message}`, rejectedUsers, error);
	}

	protected async useSender(scope: ScopeRuntime<RedisStore>, send: SendMapping, pacer: RequestPacer): Promise<void> {
		await super.useSender(scope, send, pacer);
		this.watch(scope);
	}

	/** A waiter on this process: other processes' settles must wake it (registered while it waits). */
	protected onWaiting(scope: ScopeRuntime<RedisStore>): void {
		if (!this.watching || this.stopping) return;
		this.watch(scope);
		const now = this.clock.now();
		if ((this.registeredUntil.get(scope.name) ?? 0) - now > WATCH_BLOCK_MS) return;
		const until = now + 3 * WATCH_BLOCK_MS;
		this.registeredUntil.set(scope.name, until);
		scope.store.run('tiktokSyncWait', this.processId, until, scope.settings.retryHorizonMs).catch(() => this.registeredUntil.delete(scope.name));
	}

	protected dispose(scope: ScopeRuntime<RedisStore>): void {
		this.shared?.remove(scope.store.base);
		this.watches.get(scope.name)?.stop();
		this.watches.delete(scope.name);
		super.dispose(scope);
	}

	// ---- internals ----

	private watch(scope: ScopeRuntime<RedisStore>): void {
		if (!this.watching || this.stopping || scope.disposed) return;
		const base = scope.store.base;
		const events = {
			work: (at: number) => (at <= this.clock.now() ? this.pump(scope) : this.wakeAt(scope, at)),
			wake: () => this.notify(scope),
			sweep: () => this.pump(scope),
		};
		if (isCluster(this.redis)) {
			// A blocking read cannot span Cluster slots, and every scope has a slot of its own.
			if (this.watches.has(scope.name)) return;
			const watch = new Watch(this.redis, this.processId);
			this.watches.set(scope.name, watch);
			watch.add(base, events);
			return;
		}
		this.shared ??= new Watch(this.redis, this.processId, `${this.keyPrefix}:wi:${this.processId}`);
		if (!this.shared.has(base)) this.shared.add(base, events);
	}

	private stopWatches(): void {
		this.shared?.stop();
		this.shared = undefined;
		for (const watch of this.watches.values()) watch.stop();
		this.watches.clear();
		this.registeredUntil.clear();
	}
}
