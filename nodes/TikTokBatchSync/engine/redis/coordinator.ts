import { createHash, randomUUID } from 'node:crypto';

import type { Cluster, Redis } from 'ioredis';

import type { MappingBatch } from '../../../shared/transport/mapping';
import type { MappingAction } from '../../../shared/transport/types';
import { PENDING, retryOutcome, SYNCED } from '../chunk';
import { realClock, type Clock } from '../clock';
import { emptyCounters, type Counters } from '../counters';
import { BacklogFullError, StateUnavailableError } from '../errors';
import { decideAfterFailure, failureInfoOf, horizonReason } from '../failurePolicy';
import { decodeJournalChunks, parseJournal } from '../journal';
import { notAcceptedOutcome, tallied, type Rejection } from '../runResult';
import { DEFAULT_MAX_REQUESTS_IN_FLIGHT } from '../limits';
import { defaultSyncSettings, resolveSettings, type SyncSettings } from '../settings';
import type { Destination, RequestPacer, SendMapping, SubmitRequest, SubmitResult, SyncUser, UserOutcome } from '../types';
import { checkDestination, checkUsers } from '../validation';
import { SCRIPTS, type ScriptName } from './scripts';

export type RedisClient = Redis | Cluster;

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
	/** How often a quiet scope looks for work other processes put in (0: only at times its own state names). */
	pollMs?: number;
	/** Real-time pause between two looks of a run waiting for delivery or room, or of a flush. */
	waitPollMs?: number;
}

export const DEFAULT_LEASE_MS = 30_000;
export const DEFAULT_POLL_MS = 1_000;
/** Keys outlive the retry horizon by this much after their last write, then Redis drops them. */
export const KEY_MARGIN_MS = 24 * 3_600_000;
/** Users per admit script call: small enough to keep Redis responsive to other clients between calls. */
const ADMIT_BATCH = 1_000;
const FLUSH_WAIT_LIMIT_MS = 10 * 60_000;

/** What this process knows of a scope whose state is in Redis. */
interface ScopeRuntime {
	readonly name: string;
	readonly base: string;
	settings: SyncSettings;
	send?: SendMapping;
	pacer?: RequestPacer;
	inFlight: number;
	pumping: boolean;
	again: boolean;
	timer?: unknown;
	timerAt?: number;
	lastError?: string;
	disposed: boolean;
}

interface Claim {
	id: string;
	destination: Destination;
	rows: string;
	rowCount: number;
	failures: number;
	enteredAt: number;
}

type ScriptCaller = Record<ScriptName, (base: string, ...args: Array<string | number>) => Promise<unknown>>;

const prepared = new WeakSet<object>();

/**
 * The Batch Sync engine on Redis, for n8n queue mode: every process (main, webhook processors, workers) admits users
 * into one shared window per audience, claims requests with a lease and a token, and settles them atomically, so
 * Max Pending Users, the counters and the retry schedule are the scope's, not a process's. Requests go out through
 * the pacer it is given (RedisPacer: one budget per TikTok app for all processes). The same verbs as the in-process
 * SyncCoordinator; reports are read from Redis.
 */
export class RedisSyncCoordinator {
	readonly kind = 'redis';
	private readonly redis: RedisClient;
	private readonly scripts: ScriptCaller;
	private readonly keyPrefix: string;
	private readonly clock: Clock;
	private readonly random: () => number;
	private readonly maxInFlight: number;
	private readonly requestCapacity: number;
	private readonly leaseMs: number;
	private readonly pollMs: number;
	private readonly waitPollMs: number;
	private scopes = new Map<string, ScopeRuntime>();
	private active = 0;
	private idleWaiters: Array<() => void> = [];
	private changeWaiters: Array<() => void> = [];

	constructor(options: RedisCoordinatorOptions) {
		this.redis = options.redis;
		this.keyPrefix = options.keyPrefix;
		this.clock = options.clock ?? realClock;
		this.random = options.random ?? Math.random;
		this.maxInFlight = Math.max(1, Math.floor(options.maxRequestsInFlight ?? DEFAULT_MAX_REQUESTS_IN_FLIGHT));
		this.requestCapacity = Math.max(1, Math.floor(options.requestCapacity));
		this.leaseMs = Math.max(1_000, options.leaseMs ?? DEFAULT_LEASE_MS);
		this.pollMs = Math.max(0, options.pollMs ?? DEFAULT_POLL_MS);
		this.waitPollMs = Math.max(1, options.waitPollMs ?? 25);
		if (!prepared.has(this.redis)) {
			for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { numberOfKeys: 1, lua });
			prepared.add(this.redis);
		}
		this.scripts = this.redis as unknown as ScriptCaller;
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

	/**
	 * Accepts the users while the scope has room across all processes, waiting while requests drain the backlog;
	 * the rest are 'rejected' with the reason (a full backlog, or Redis unreachable). Throws TypeError on malformed
	 * input before accepting anything.
	 */
	async submit(request: SubmitRequest): Promise<SubmitResult> {
		const { users, destination } = request;
		checkDestination(destination);
		checkUsers(users, destination.idSchema.length);
		checkPackable(users);
		const scope = this.scopeOf(request.scope);
		scope.settings = resolveSettings(request.settings, this.requestCapacity);
		const notSyncedReasons = request.notSyncedReasons ?? [];
		const windowOfUser = new Float64Array(users.length).fill(-1);
		let rejection: Rejection | undefined;
		let next = 0;
		try {
			await this.useSender(scope, request.send, request.pacer);
			if (notSyncedReasons.length > 0) await this.recordNotSynced(request.scope, notSyncedReasons);
			const dest = destinationId(destination);
			const destJson = JSON.stringify({ advertiserId: destination.advertiserId, audienceId: destination.audienceId, idSchema: destination.idSchema });
			while (next < users.length && !scope.disposed) {
				const batch = users.slice(next, next + ADMIT_BATCH);
				const { admitted, drainable, windows } = await this.admit(scope, dest, destJson, destination.action, batch);
				for (let index = 0; index < admitted; index++) windowOfUser[next + index] = windows[index];
				next += admitted;
				if (admitted === batch.length) continue;
				this.pump(scope);
				if (!drainable) {
					rejection = BacklogFullError.of(scope, users.length - next);
					break;
				}
				await this.nextChange();
			}
		} catch (error) {
			rejection = new StateUnavailableError(
				`Batch Sync could not reach its shared state in Redis: ${(error as Error).message}`,
				users.length - next,
				error,
			);
		}
		this.pump(scope);
		return this.resultOf(scope, request, windowOfUser, notSyncedReasons.length, rejection);
	}

	/** Counts users the node refused before the engine. */
	async recordNotSynced(scopeName: string, reasons: ReadonlyArray<string>): Promise<void> {
		const base = this.scopeBase(scopeName);
		for (let start = 0; start < reasons.length; start += ADMIT_BATCH) {
			await this.run('tiktokSyncNotSynced', base, this.clock.now(), this.ttl(this.scopes.get(scopeName)), ...reasons.slice(start, start + ADMIT_BATCH));
		}
	}

	/**
	 * Sends what is buffered now (every process's users of the scope), runs retries that are due, and resolves when
	 * nothing of the scope is being sent or may be sent now (the rest is scheduled). `send`/`pacer` make this process
	 * able to send for a scope it has not seen yet (a Flush & Report on another worker).
	 */
	async flush(scopeName: string, options: { send?: SendMapping; pacer?: RequestPacer; settings?: Partial<SyncSettings> } = {}): Promise<void> {
		const known = this.scopes.get(scopeName);
		if (!known && !options.send) return;
		const scope = known ?? this.scopeOf(scopeName);
		if (options.settings) scope.settings = resolveSettings(options.settings, this.requestCapacity);
		const pacer = options.pacer ?? scope.pacer;
		if (options.send && pacer) await this.useSender(scope, options.send, pacer);
		await this.run('tiktokSyncCutAll', scope.base, this.clock.now(), this.ttl(scope));
		const deadline = Date.now() + FLUSH_WAIT_LIMIT_MS;
		while (!scope.disposed && Date.now() < deadline) {
			this.pump(scope);
			const [ready, leased] = (await this.run('tiktokSyncBusy', scope.base, this.clock.now(), this.ttl(scope))) as number[];
			if (ready + leased === 0) return;
			await this.nextChange();
		}
	}

	/** The scope's counters, as every process has moved them. */
	async report(scopeName: string): Promise<Counters> {
		const base = this.scopeBase(scopeName);
		const [counts, notSynced, errored] = await Promise.all([
			this.redis.hgetall(`${base}cnt`),
			this.redis.hgetall(`${base}rns`),
			this.redis.hgetall(`${base}rer`),
		]);
		const counters = emptyCounters();
		for (const field of ['entered', 'synced', 'notSynced', 'pending', 'errored', 'added', 'removed'] as const) {
			counters[field] = Number(counts[field] ?? 0);
		}
		counters.notSyncedReasons = numbers(notSynced);
		counters.erroredReasons = numbers(errored);
		return counters;
	}

	/**
	 * Moves a static-data journal (written by the in-process engine) into Redis, once per journal whatever number
	 * of processes try: its users are queued for sending now, its counters added. Returns the users moved in.
	 */
	async importJournal(scopeName: string, journal: unknown, send: SendMapping, pacer: RequestPacer, settings?: Partial<SyncSettings>): Promise<{ restoredUsers: number }> {
		if (journal === undefined || journal === null) return { restoredUsers: 0 };
		const saved = parseJournal(journal);
		const scope = this.scopeOf(scopeName);
		if (settings) scope.settings = resolveSettings(settings, this.requestCapacity);
		const { chunks, users } = decodeJournalChunks(saved, scope.settings.usersPerRequest);
		const args: Array<string | number> = [];
		// Journaled windows go before any new one (windows count from 1): adds and removes keep their order.
		chunks.forEach((chunk, index) => {
			const batch = chunk.toBatch();
			const { destination } = chunk;
			args.push(
				destinationId(destination),
				JSON.stringify({ advertiserId: destination.advertiserId, audienceId: destination.audienceId, idSchema: destination.idSchema }),
				destination.action === 'delete' ? 'd' : 'a',
				index - chunks.length,
				packRows(batch),
				batch.rows,
				chunk.users,
				chunk.lastEnteredAt,
				chunk.failures,
				chunk.lastError ?? '',
			);
		});
		const { pending: _pending, ...counters } = saved.counters;
		const marker = `${saved.writer}:${saved.savedAt}`;
		await this.useSender(scope, send, pacer);
		const imported = await this.run('tiktokSyncImport', scope.base, this.clock.now(), this.ttl(scope), marker, JSON.stringify(counters), users, ...args);
		this.pump(scope);
		return { restoredUsers: Number(imported) === 1 ? users : 0 };
	}

	/**
	 * A small shared directory (e.g. a workflow's Batch Sync nodes and what each last ran with), so a process that
	 * never saw a member still finds it. Expires with the scopes' keys.
	 */
	async remember(group: string, member: string, value: string): Promise<void> {
		const key = this.groupKey(group);
		await this.redis.hset(key, member, value);
		await this.redis.pexpire(key, this.ttl(undefined));
	}

	async members(group: string): Promise<Record<string, string>> {
		return this.redis.hgetall(this.groupKey(group));
	}

	/**
	 * Runs `work` while holding a lock shared by every process (SET NX with a lease; released only by its holder).
	 * Waits up to `waitMs` for it, then runs anyway: a stuck lock must not stop syncing.
	 */
	async withLock<T>(name: string, work: () => Promise<T>, options: { leaseMs?: number; waitMs?: number } = {}): Promise<T> {
		const key = `${this.keyPrefix}:{l:${digest(name)}}:lock`;
		const token = randomUUID();
		const leaseMs = options.leaseMs ?? 30_000;
		const deadline = Date.now() + (options.waitMs ?? 30_000);
		let held = false;
		while (!held && Date.now() < deadline) {
			held = (await this.redis.set(key, token, 'PX', leaseMs, 'NX')) === 'OK';
			if (!held) await new Promise((resolve) => setTimeout(resolve, 50));
		}
		try {
			return await work();
		} finally {
			if (held) await this.redis.eval(RELEASE_LOCK, 1, key, token).catch(() => undefined);
		}
	}

	/** A value any process can read back (e.g. an audience another process created), expiring with the scopes. */
	async noteValue(name: string, value: string): Promise<void> {
		await this.redis.set(`${this.keyPrefix}:{v:${digest(name)}}:value`, value, 'PX', this.ttl(undefined));
	}

	async recallValue(name: string): Promise<string | undefined> {
		return (await this.redis.get(`${this.keyPrefix}:{v:${digest(name)}}:value`)) ?? undefined;
	}

	private groupKey(group: string): string {
		return `${this.keyPrefix}:{g:${digest(group)}}:members`;
	}

	/** Whether this process has sent or admitted for the scope. */
	knows(scopeName: string): boolean {
		return this.scopes.has(scopeName);
	}

	/**
	 * Resolves when no script call, send or dispatch of this process is under way (tests with a fake clock settle
	 * on it), with whether it was idle already.
	 */
	whenIdle(): Promise<boolean> {
		if (this.active === 0) return Promise.resolve(true);
		return new Promise((resolve) => this.idleWaiters.push(() => resolve(false)));
	}

	/** Stops this process's timers and forgets its scopes (their state stays in Redis). In-flight sends finish. */
	reset(): void {
		for (const scope of this.scopes.values()) {
			scope.disposed = true;
			if (scope.timer !== undefined) this.clock.clearTimeout(scope.timer);
		}
		this.scopes = new Map();
		this.notifyChange();
	}

	// ---- internals ----

	private scopeOf(name: string): ScopeRuntime {
		let scope = this.scopes.get(name);
		if (!scope) {
			scope = {
				name,
				base: this.scopeBase(name),
				settings: defaultSyncSettings(this.requestCapacity),
				inFlight: 0,
				pumping: false,
				again: false,
				disposed: false,
			};
			this.scopes.set(name, scope);
		}
		return scope;
	}

	private ttl(scope: ScopeRuntime | undefined): number {
		return (scope?.settings.retryHorizonMs ?? defaultSyncSettings(this.requestCapacity).retryHorizonMs) + KEY_MARGIN_MS;
	}

	/**
	 * The newest send wins; a new one (a reconnected credential) also makes one request that waits after an
	 * authorization failure due now: its success releases the others.
	 */
	private async useSender(scope: ScopeRuntime, send: SendMapping, pacer: RequestPacer): Promise<void> {
		const replaced = scope.send !== undefined && scope.send !== send;
		scope.send = send;
		scope.pacer = pacer;
		if (replaced && scope.inFlight === 0) {
			await this.run('tiktokSyncProbe', scope.base, this.clock.now(), this.ttl(scope));
			this.pump(scope);
		}
	}

	private async admit(
		scope: ScopeRuntime,
		dest: string,
		destJson: string,
		defaultAction: MappingAction,
		batch: ReadonlyArray<SyncUser>,
	): Promise<{ admitted: number; drainable: boolean; windows: number[] }> {
		const { windowMs, usersPerRequest, retryHorizonMs, maxPendingUsers } = scope.settings;
		const args: Array<string | number> = [
			this.clock.now(),
			this.ttl(scope),
			windowMs,
			usersPerRequest,
			retryHorizonMs,
			maxPendingUsers,
			dest,
			destJson,
			defaultAction === 'delete' ? 'd' : 'a',
		];
		for (const user of batch) {
			args.push(user.key, user.action === undefined ? '' : user.action === 'delete' ? 'd' : 'a', packIds(user.ids));
		}
		const reply = (await this.run('tiktokSyncAdmit', scope.base, ...args)) as number[];
		return { admitted: reply[0], drainable: reply[1] === 1, windows: reply.slice(2) };
	}

	private async resultOf(
		scope: ScopeRuntime,
		request: SubmitRequest,
		windowOfUser: Float64Array,
		notSynced: number,
		rejection: Rejection | undefined,
	): Promise<SubmitResult> {
		const { users, destination } = request;
		const notAccepted = notAcceptedOutcome(rejection);
		const outcomes = new Array<UserOutcome>(users.length);
		const actions = new Array<MappingAction | undefined>(users.length);
		for (let index = 0; index < users.length; index++) {
			const accepted = windowOfUser[index] >= 0;
			outcomes[index] = accepted ? PENDING : notAccepted;
			actions[index] = accepted ? users[index].action ?? destination.action : undefined;
		}
		if (request.waitForDelivery && !rejection?.name.startsWith('StateUnavailable')) {
			await this.untilAttempted(scope, destinationId(destination), windowOfUser, outcomes, actions);
		}
		return tallied(outcomes, actions, notSynced, rejection);
	}

	/**
	 * Waits until the requests carrying these users were attempted (synced, errored, or scheduled for a retry or
	 * behind a rate-limit pause), whichever process sent them, and sets each user's outcome. A user that a later
	 * action in its window moved to the other request takes that request's outcome and action.
	 */
	private async untilAttempted(
		scope: ScopeRuntime,
		dest: string,
		windowOfUser: Float64Array,
		outcomes: UserOutcome[],
		actions: Array<MappingAction | undefined>,
	): Promise<void> {
		const outcomeOf = new Map<string, UserOutcome>();
		const keyOf = (window: number, action: MappingAction) => `${window}:${action === 'delete' ? 'd' : 'a'}`;
		const wanted = new Set<string>();
		for (let index = 0; index < outcomes.length; index++) {
			const action = actions[index];
			if (action !== undefined) wanted.add(keyOf(windowOfUser[index], action));
		}
		const moved = new Set<string>();
		let open = [...wanted];
		while (open.length > 0 && !scope.disposed) {
			const args: Array<string | number> = [];
			for (const key of open) {
				const [window, act] = key.split(':');
				args.push(dest, window, act);
			}
			const reply = (await this.run('tiktokSyncOutcomes', scope.base, this.clock.now(), this.ttl(scope), ...args)) as string[];
			const stillOpen: string[] = [];
			open.forEach((key, index) => {
				const answer = reply[index];
				if (answer === 'open') stillOpen.push(key);
				else if (answer === 'moved') {
					const [window, act] = key.split(':');
					const other = `${window}:${act === 'a' ? 'd' : 'a'}`;
					moved.add(key);
					if (!outcomeOf.has(other) && !stillOpen.includes(other) && !open.includes(other)) stillOpen.push(other);
				} else outcomeOf.set(key, parseOutcome(answer));
			});
			open = stillOpen;
			if (open.length > 0) await this.nextChange();
		}
		for (let index = 0; index < outcomes.length; index++) {
			let action = actions[index];
			if (action === undefined) continue;
			let key = keyOf(windowOfUser[index], action);
			if (moved.has(key)) {
				action = action === 'delete' ? 'add' : 'delete';
				key = keyOf(windowOfUser[index], action);
			}
			actions[index] = action;
			outcomes[index] = outcomeOf.get(key) ?? PENDING;
		}
	}

	/** Claims and sends while this process has room in flight; then sleeps until the scope's next moment. */
	private pump(scope: ScopeRuntime): void {
		if (scope.disposed) return;
		if (scope.pumping) {
			scope.again = true;
			return;
		}
		scope.pumping = true;
		this.track(
			this.pumpLoop(scope).finally(() => {
				scope.pumping = false;
				// asked for again after the loop's last look (this runs a turn later): look once more
				if (scope.again) this.pump(scope);
			}),
		);
	}

	private async pumpLoop(scope: ScopeRuntime): Promise<void> {
		do {
			scope.again = false;
			while (!scope.disposed && scope.send && scope.inFlight < this.maxInFlight) {
				let reply: Array<string | number | null>;
				const token = randomUUID();
				try {
					reply = (await this.run('tiktokSyncClaim', 
						scope.base,
						this.clock.now(),
						this.ttl(scope),
						this.leaseMs,
						token,
						horizonReason(scope.settings.retryHorizonMs, ''),
						'no attempt could be made',
					)) as Array<string | number | null>;
				} catch (error) {
					// Redis is away: look again later; nothing was taken.
					scope.lastError = `Redis: ${(error as Error).message}`;
					this.wakeAt(scope, this.clock.now() + Math.max(this.pollMs, 1_000));
					return;
				}
				if (reply[0] !== 'claimed') {
					this.notifyChange();
					const next = Number(reply[1]);
					const now = this.clock.now();
					const poll = this.pollMs > 0 ? now + this.pollMs : Infinity;
					this.wakeAt(scope, next >= 0 ? Math.min(next, poll) : poll);
					break;
				}
				scope.inFlight++;
				this.track(this.sendClaimed(scope, parseClaim(reply), token));
			}
		} while (scope.again && !scope.disposed);
	}

	private wakeAt(scope: ScopeRuntime, at: number): void {
		if (!Number.isFinite(at) || scope.disposed) return;
		if (scope.timer !== undefined && scope.timerAt !== undefined && scope.timerAt <= at) return;
		if (scope.timer !== undefined) this.clock.clearTimeout(scope.timer);
		scope.timerAt = at;
		scope.timer = this.clock.setTimeout(() => {
			scope.timer = undefined;
			scope.timerAt = undefined;
			this.pump(scope);
		}, Math.max(0, at - this.clock.now()));
	}

	private async sendClaimed(scope: ScopeRuntime, claim: Claim, token: string): Promise<void> {
		let renewal: unknown;
		const renew = () => {
			renewal = this.clock.setTimeout(() => {
				this.scripts
					.tiktokSyncRenew(scope.base, this.clock.now(), this.ttl(scope), claim.id, token, this.leaseMs)
					.catch(() => undefined);
				renew();
			}, this.leaseMs / 3);
		};
		renew();
		let failure: unknown;
		let delivered = false;
		try {
			await (scope.pacer as RequestPacer).acquire();
			// Read after the wait: a credential reconnected meanwhile is used at once.
			await (scope.send as SendMapping)(toBatch(claim));
			delivered = true;
		} catch (error) {
			failure = error;
		}
		this.clock.clearTimeout(renewal);
		const now = this.clock.now();
		const base: Array<string | number> = [now, this.ttl(scope), claim.id, token];
		try {
			if (delivered) {
				await this.run('tiktokSyncSettle', scope.base, ...base, 'synced', 0, 0, '', 0, claim.failures);
			} else {
				const info = failureInfoOf(failure);
				scope.lastError = info.reason;
				const failures = claim.failures + 1;
				const decision = decideAfterFailure({
					failure: info,
					failures,
					lastEnteredAt: claim.enteredAt,
					retryHorizonMs: scope.settings.retryHorizonMs,
					now,
					random: this.random,
				});
				if (decision.kind === 'giveUp') {
					await this.run('tiktokSyncSettle', scope.base, ...base, 'errored', 0, 0, decision.reason, 0, failures);
				} else {
					const reauth = info.errorClass === 'reauthorize' ? 1 : 0;
					await this.run('tiktokSyncSettle', scope.base, ...base, 'retry', decision.dueAt, decision.holdUntil ?? 0, info.reason, reauth, failures);
				}
			}
		} catch (error) {
			// Redis is away: the lease runs out and a process sends the request again (at least once; counted once).
			scope.lastError = `Redis: ${(error as Error).message}`;
		}
		scope.inFlight--;
		this.notifyChange();
		this.pump(scope);
	}

	/** One script call; counted as activity (whenIdle), unlike the pauses of runs waiting for delivery or room. */
	private async run(name: ScriptName, base: string, ...args: Array<string | number>): Promise<unknown> {
		this.active++;
		try {
			return await this.scripts[name](base, ...args);
		} finally {
			this.done();
		}
	}

	private track(work: Promise<unknown>): void {
		this.active++;
		work.catch(() => undefined).finally(() => this.done());
	}

	private done(): void {
		this.active--;
		if (this.active > 0) return;
		const waiters = this.idleWaiters;
		this.idleWaiters = [];
		for (const resolve of waiters) resolve();
	}

	/** Resolves at the next local change (a request settled, a pump found nothing to do) or after a short pause. */
	private nextChange(): Promise<void> {
		return new Promise((resolve) => {
			const timer = setTimeout(resolve, this.waitPollMs);
			this.changeWaiters.push(() => {
				clearTimeout(timer);
				// Let Redis catch up with what this process just did before looking again.
				setImmediate(resolve);
			});
		});
	}

	private notifyChange(): void {
		const waiters = this.changeWaiters;
		this.changeWaiters = [];
		for (const resolve of waiters) resolve();
	}
}

const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;


function parseOutcome(answer: string): UserOutcome {
	if (answer === 'synced') return SYNCED;
	const tab = answer.indexOf('\t');
	const status = tab === -1 ? answer : answer.slice(0, tab);
	const reason = tab === -1 ? '' : answer.slice(tab + 1);
	if (status === 'errored') return { status: 'errored', reason };
	return reason ? retryOutcome(reason) : PENDING;
}

function parseClaim(reply: Array<string | number | null>): Claim {
	const stored = JSON.parse(String(reply[2])) as Omit<Destination, 'action'>;
	return {
		id: String(reply[1]),
		destination: { ...stored, action: reply[3] === 'd' ? 'delete' : 'add' },
		rows: String(reply[4]),
		rowCount: Number(reply[5]),
		failures: Number(reply[7]),
		enteredAt: Number(reply[8]),
	};
}

/** Rows are "\n"-joined, ids "\t"-joined, '' where a user lacks that id type. */
function packIds(ids: ReadonlyArray<string | undefined>): string {
	return ids.map((id) => id ?? '').join('\t');
}

function packRows(batch: MappingBatch): string {
	const rows: string[] = [];
	for (let row = 0; row < batch.rows; row++) rows.push(packIds(batch.columns.map((column) => column[row])));
	return rows.join('\n');
}

function toBatch(claim: Claim): MappingBatch {
	const slots = claim.destination.idSchema.length;
	const columns: Array<Array<string | undefined>> = Array.from({ length: slots }, () => new Array(claim.rowCount));
	const rows = claim.rows.split('\n');
	for (let row = 0; row < rows.length; row++) {
		const ids = rows[row].split('\t');
		for (let slot = 0; slot < slots; slot++) columns[slot][row] = ids[slot] === '' ? undefined : ids[slot];
	}
	return { target: claim.destination, rows: rows.length, columns };
}

/** Hashed ids never hold tabs or line breaks; anything that does would corrupt a packed row. */
function checkPackable(users: ReadonlyArray<SyncUser>): void {
	for (let index = 0; index < users.length; index++) {
		for (const id of users[index].ids) {
			if (id !== undefined && /[\t\n]/.test(id)) throw new TypeError(`Batch Sync user ${index} has an id with a tab or line break`);
		}
	}
}

function numbers(record: Record<string, string>): Record<string, number> {
	const out: Record<string, number> = {};
	for (const [key, value] of Object.entries(record)) out[key] = Number(value);
	return out;
}

export function digest(value: string): string {
	return createHash('sha256').update(value).digest('hex').slice(0, 20);
}

/** One audience of one advertiser with its id types (adds and removes share its window). */
export function destinationId(destination: Destination): string {
	return digest(JSON.stringify([destination.advertiserId, destination.audienceId, destination.idSchema]));
}
