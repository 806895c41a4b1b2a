/*
 * Model-based test of both stores: seeded random runs of submits (adds and removes, duplicates, several executions
 * and, in Redis, two processes), TikTok answers (success, 5xx, 40100, token errors, permanent errors), clock moves,
 * flushes, and a process crashing mid-send (in-process: its journal comes back in a new process; Redis: its lease
 * lapses, another process takes the request over, and the stalled copy reaches TikTok late), replayed against the
 * in-process and the Redis engine and against the reference model (test/model/reference.ts). What TikTok saw (time, audience, action, rows in order), who ends up in each audience,
 * and the counters must be the same. A failing run prints its seed; MODEL_SEED=<seed> replays it alone.
 */
import type { MappingBatch } from '../../nodes/shared/transport/mapping';
import { TikTokApiError } from '../../nodes/shared/transport/errors';
import type { BatchSyncEngine, Counters, RedisSyncCoordinator, SyncCoordinator, SyncSettings } from '../../nodes/TikTokBatchSync/engine';
import { newTikTokCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { DEFAULT_LEASE_MS, FENCE_MARGIN_MS, sendBudgetMs } from '../../nodes/TikTokBatchSync/engine/limits';
import { SendFailure } from '../../nodes/TikTokBatchSync/engine/errors';
import { ALREADY_PACED, classifyForEngine } from '../../nodes/TikTokBatchSync/sender';
import { HOUR, SECOND, T0, type FakeClock } from '../harness/clock';
import { ENGINE_KINDS, freshEngine, hexId, idleWithin, type EngineKind } from '../harness/engine';
import { ProcessGroup } from '../harness/redisProcs';
import { ReferenceModel, type Act, type Answer, type CrashRules, type ModelSettings, type SeenRequest } from '../model/reference';
import { randomSource, type Random } from '../model/random';

const SCOPE = 'wf-model:Batch Sync';
const AUDIENCES = ['aud-1', 'aud-2'];
const POOL = 10;
const RUNS = Number(process.env.MODEL_RUNS ?? 12);
const STEPS = 40;

const group = new ProcessGroup();
afterAll(() => group.close());

/** The answers TikTok gives, by request number (beyond the list: success), as the nodes classify them. */
function answersFor(random: Random): Answer[] {
	const failure = (error: TikTokApiError): Answer => ({ ok: false, info: classifyForEngine(error) });
	return Array.from({ length: 300 }, () => {
		const roll = random.next();
		if (roll < 0.66) return { ok: true };
		if (roll < 0.8) return failure(new TikTokApiError({ message: 'System error', code: 50000, httpStatus: 200 }));
		if (roll < 0.86) return failure(new TikTokApiError({ message: 'Too many requests', tiktokMessage: 'Too many requests', code: 40100 }));
		if (roll < 0.95) return failure(new TikTokApiError({ message: 'Access token expired', tiktokMessage: 'Access token expired', code: 40105 }));
		return failure(new TikTokApiError({ message: 'Audience does not exist', tiktokMessage: 'Audience does not exist', code: 40002 }));
	});
}

/** TikTok as the engine meets it: records each request, answers from the list, applies what it accepted. */
class SimTikTok {
	readonly seen: SeenRequest[] = [];
	readonly members = new Map<string, Set<string>>();
	/** The next request stalls, and the process that sent it crashes right there. */
	stallNext = false;
	crash?: (process: number) => void;

	constructor(
		private readonly clock: FakeClock,
		private readonly answers: Answer[],
		private readonly rules: CrashRules,
	) {}

	private readonly sends = new Map<number, (batch: MappingBatch) => Promise<void>>();

	/**
	 * The send of process `process` (one per process, so a stall knows whose it is; always the same function, since
	 * a new one means a reconnected credential to the engine).
	 */
	sendFor(process: number): (batch: MappingBatch) => Promise<void> {
		let send = this.sends.get(process);
		if (!send) {
			send = this.newSend(process);
			this.sends.set(process, send);
		}
		return send;
	}

	private newSend(process: number) {
		return async (batch: MappingBatch): Promise<void> => {
			const keys = batch.columns[0].map((id) => id as string);
			const answer = this.answers[this.seen.length] ?? { ok: true };
			this.seen.push({ at: this.clock.now(), audience: batch.target.audienceId, act: batch.target.action, keys });
			if (this.stallNext) {
				this.stallNext = false;
				const apply = () => this.apply(batch.target.audienceId, batch.target.action, keys);
				if (this.rules.kind === 'journal') apply();
				this.crash?.(process);
				if (this.rules.kind === 'journal') return;
				// The stalled copy reaches TikTok late: after the lease's end and the holder's send budget. (The crashed
				// process is gone: what its send returns no longer matters.)
				this.clock.setTimeout(apply, this.rules.leaseMs + this.rules.sendBudgetMs + this.rules.lateArrivalMs);
				return;
			}
			if (!answer.ok) throw new SendFailure(answer.info);
			this.apply(batch.target.audienceId, batch.target.action, keys);
		};
	}

	private apply(audience: string, action: Act, keys: string[]): void {
		const members = this.members.get(audience) ?? new Set<string>();
		this.members.set(audience, members);
		for (const key of keys) {
			if (action === 'add') members.add(key);
			else members.delete(key);
		}
	}
}

interface Run {
	clock: FakeClock;
	/** Engines the steps go through (Redis: two processes sharing the scope; in-process: one). */
	engines: BatchSyncEngine[];
	/** Process `index` crashed mid-send: another takes its place at once (the engine's own way back). */
	crash(index: number): void;
	dispose(): Promise<void>;
}

function startRun(kind: EngineKind, tiktok: SimTikTok, settings: Partial<SyncSettings>): Run {
	if (kind === 'in-process') {
		const engine = freshEngine('in-process', { maxRequestsInFlight: 1 });
		const run: Run = {
			clock: engine.clock,
			engines: [engine.coordinator],
			crash: (index) => {
				const old = run.engines[index] as SyncCoordinator;
				const journal = JSON.parse(JSON.stringify(old.exportJournal(SCOPE)));
				old.reset();
				const restarted = newTikTokCoordinator({ clock: engine.clock, random: () => 0.5, maxRequestsInFlight: 1 });
				restarted.restore(SCOPE, journal, tiktok.sendFor(index), ALREADY_PACED, settings);
				run.engines[index] = restarted;
			},
			dispose: async () => {
				for (const coordinator of run.engines) coordinator.reset();
			},
		};
		return run;
	}
	const engine = freshEngine('redis', { maxRequestsInFlight: 1 });
	const prefix = (engine.coordinator as RedisSyncCoordinator).prefix;
	const run: Run = {
		clock: engine.clock,
		engines: [engine.coordinator, group.newProc(prefix, engine.clock, { maxRequestsInFlight: 1 }).coordinator],
		crash: (index) => {
			run.engines[index].reset();
			const restarted = group.newProc(prefix, engine.clock, { maxRequestsInFlight: 1 }).coordinator;
			run.engines[index] = restarted;
			engine.clock.idle = idleWithin(run.engines as RedisSyncCoordinator[]);
			// A worker starting again: its first execution brings no users but makes it look at the scope.
			void restarted.submit({ scope: SCOPE, destination: DESTINATION, users: [], send: tiktok.sendFor(index), pacer: ALREADY_PACED, settings, waitForDelivery: false });
		},
		dispose: async () => {
			await group.dispose();
			await engine.dispose();
		},
	};
	engine.clock.idle = idleWithin(run.engines as RedisSyncCoordinator[]);
	return run;
}

function modelCounters(counters: Counters) {
	const { entered, synced, pending, errored, added, removed, erroredReasons } = counters;
	return { entered, synced, pending, errored, added, removed, erroredReasons };
}

const DESTINATION = { advertiserId: 'adv-1', audienceId: AUDIENCES[0], action: 'add' as const, idSchema: ['EMAIL_SHA256' as const] };

async function replay(kind: EngineKind, seed: number): Promise<void> {
	if (process.env.MODEL_TRACE) require('node:fs').appendFileSync(process.env.MODEL_TRACE, `${kind} ${seed}\n`);
	const random = randomSource(seed);
	const settings: ModelSettings & { maxPendingUsers: number } = {
		windowMs: random.pick([0, 2 * SECOND, 5 * SECOND]),
		usersPerRequest: random.pick([2, 3, 5, 10]),
		retryHorizonMs: random.pick([90 * SECOND, 13 * HOUR]),
		maxPendingUsers: 100_000,
	};
	const answers = answersFor(random);
	if (process.env.MODEL_DEBUG) console.log(`settings ${JSON.stringify(settings)}`);
	const rules: CrashRules = {
		kind: kind === 'in-process' ? 'journal' : 'lease',
		leaseMs: DEFAULT_LEASE_MS,
		sendBudgetMs: sendBudgetMs(DEFAULT_LEASE_MS),
		fenceMarginMs: FENCE_MARGIN_MS,
		lateArrivalMs: 777,
	};
	const model = new ReferenceModel(T0, settings, (index) => answers[index] ?? { ok: true }, rules);
	let clock!: FakeClock;
	const tiktok = new SimTikTok({ now: () => clock.now(), setTimeout: (callback: () => void, ms: number) => clock.setTimeout(callback, ms) } as FakeClock, answers, rules);
	const run = startRun(kind, tiktok, settings);
	clock = run.clock;
	tiktok.crash = (index) => run.crash(index);
	try {
		for (let step = 0; step < STEPS; step++) {
			const roll = random.next();
			if (roll < 0.5) {
				const audience = random.pick(AUDIENCES);
				const users = Array.from({ length: 1 + random.int(4) }, () => ({
					key: hexId(random.int(POOL)),
					act: (random.next() < 0.7 ? 'add' : 'delete') as Act,
				}));
				const index = random.int(run.engines.length);
				await run.engines[index].submit({
					scope: SCOPE,
					destination: { advertiserId: 'adv-1', audienceId: audience, action: 'add', idSchema: ['EMAIL_SHA256'] },
					users: users.map(({ key, act }) => ({ key, ids: [key], action: act })),
					send: tiktok.sendFor(index),
					pacer: ALREADY_PACED,
					settings,
					waitForDelivery: false,
				});
				await run.clock.settle();
				model.submit(audience, users, settings);
				if (process.env.MODEL_DEBUG) console.log(`t=${run.clock.now() - T0} submit ${audience} ${users.map((u) => `${u.act[0]}${u.key.slice(-1)}`).join(' ')} -> engine ${tiktok.seen.length} model ${model.seen.length}`);
			} else if (roll < 0.53) {
				tiktok.stallNext = true;
				model.stallAndCrash();
				if (process.env.MODEL_DEBUG) console.log(`t=${run.clock.now() - T0} the next send stalls and its process crashes`);
			} else if (roll < 0.93) {
				const ms = random.pick([0, 1, 500, SECOND, 2 * SECOND, 5 * SECOND, 20 * SECOND, 60 * SECOND, 10 * 60 * SECOND]);
				await run.clock.advance(ms);
				model.advanceTo(run.clock.now());
				if (process.env.MODEL_DEBUG) console.log(`t=${run.clock.now() - T0} advanced ${ms} -> engine ${tiktok.seen.length} model ${model.seen.length}`);
				if (process.env.MODEL_DUMP && kind === 'redis') {
					const base = (run.engines[0] as unknown as { scopeBase(name: string): string }).scopeBase(SCOPE);
					const dump: Record<string, unknown> = {};
					for (const key of (await group.admin.keys(`${base}*`)).sort()) {
						if (!new RegExp(process.env.MODEL_DUMP).test(key)) continue;
						const type = await group.admin.type(key);
						dump[key.slice(base.length)] = type === 'zset' ? await group.admin.zrange(key, 0, -1, 'WITHSCORES') : type === 'hash' ? await group.admin.hgetall(key) : await group.admin.get(key);
					}
					console.log(JSON.stringify(dump));
				}
			} else if (!model.leaseOutstanding) {
				// (A flush waits for a crashed holder's lease to lapse, which a clock standing still never lets happen.)
				const index = random.int(run.engines.length);
				await run.engines[index].flush(SCOPE, { send: tiktok.sendFor(index), pacer: ALREADY_PACED });
				await run.clock.settle();
				model.flush();
			}
		}
		// Long enough for every retry to end one way or the other.
		for (let hour = 0; hour < 14; hour++) {
			await run.clock.advance(HOUR);
			model.advanceTo(run.clock.now());
		}
		if (process.env.MODEL_DEBUG) {
			const line = (r: SeenRequest, i: number) => `${i} ${r.at - T0} ${r.audience} ${r.act} ${r.keys.map((k) => k.slice(-2)).join(',')} ${answers[i]?.ok === false ? (answers[i] as { info: { reason: string } }).info.reason.slice(13, 18) : 'ok'}`;
			console.log(`engine:\n${tiktok.seen.map(line).join('\n')}\nmodel:\n${model.seen.map(line).join('\n')}`);
		}
		expect(tiktok.seen).toEqual(model.seen);
		for (const audience of AUDIENCES) {
			expect([...(tiktok.members.get(audience) ?? [])].sort()).toEqual([...(model.members.get(audience) ?? [])].sort());
		}
		for (const engine of run.engines) expect(modelCounters(await engine.report(SCOPE))).toEqual(model.counters);
		expect(model.counters.pending).toBe(0);
	} catch (error) {
		(error as Error).message = `model run failed for seed ${seed} (${kind}; replay with MODEL_SEED=${seed}): ${(error as Error).message}`;
		throw error;
	} finally {
		await run.dispose();
	}
}

const seeds = process.env.MODEL_SEED ? [Number(process.env.MODEL_SEED)] : Array.from({ length: RUNS }, (_, n) => (Date.now() + n * 7919) % 2 ** 31);

describe.each(ENGINE_KINDS)('Batch Sync engine (%s) against the reference model', (kind) => {
	it(`agrees on requests, audiences and counters over ${seeds.length} seeded runs (seeds ${seeds.join(', ')})`, async () => {
		for (const seed of seeds) await replay(kind, seed);
	});
});
