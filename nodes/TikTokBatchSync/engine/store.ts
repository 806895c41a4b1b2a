import type { MappingBatch } from '../../shared/transport/mapping';
import type { Counters } from './counters';
import type { Rejection } from './runResult';
import type { SyncSettings } from './settings';
import type { Destination, SubmitResult, SyncUser } from './types';

/*
 * What the scheduler (scheduler.ts) keeps per scope, behind atomic verbs. Two implementations: in memory for one n8n
 * process (memory/store.ts, journaled in a file per scope) and in Redis for n8n queue mode (redis/store.ts, one
 * state for every process, each verb one Lua script). The scheduler decides (what to retry, when, what waits); the
 * store keeps the state consistent under that decision, whatever other processes do meanwhile.
 *
 * Order: a store hands out requests by the time they became due (their window's end, or the retry's time), then by
 * window, adds before removes. A request never goes while an earlier window's request of its audience with the other
 * action is unsettled (an add then a remove of one user reach TikTok in that order).
 */

/** A value now, or later (the in-memory store answers at once, Redis after a round trip). */
export type Awaitable<T> = T | Promise<T>;

/** A request taken from the store to be sent. */
export interface Claimed {
	readonly batch: MappingBatch;
	/** Failed attempts before this one (the backoff goes on from there). */
	readonly failures: number;
	/** Latest entry among its users: the retry horizon counts from here. */
	readonly lastEnteredAt: number;
}

/** A claim, or (without one) when the store may next have one (-1: nothing scheduled). */
export interface ClaimReply<C extends Claimed> {
	claim?: C;
	nextAt: number;
	/** Something else changed on the way (a window cut, a retry came due, a request errored): waiters look again. */
	changed?: boolean;
}

/** What became of an attempt (the failure policy decided retry or give up). */
export type Settlement =
	| { kind: 'synced' }
	| { kind: 'errored'; reason: string }
	| { kind: 'retry'; dueAt: number; holdUntil?: number; reason: string; reauthorize: boolean };

export interface AdmitReply {
	/** Users admitted by this call, from `from` on, in order. */
	admitted: number;
	/** Max Pending Users was reached: the rest must wait for room, or be turned away when nothing drains it soon. */
	full: boolean;
	/** With `full`: a request is being sent or may be sent now, so room will come. */
	drainable: boolean;
	/** The earliest time something admitted here becomes due (its window's end; now when a request filled up). */
	wakeAt?: number;
}

/** How the scheduler holds what it claims from a leasing store. */
export interface LeaseTerms {
	leaseMs: number;
	/** The holder's send budget: a copy of its request cannot arrive later than its lease's end plus this. */
	sendBudgetMs: number;
}

export interface ScopeStore<C extends Claimed, P> {
	/** Whether claims are leased (shared state): the scheduler renews them and aborts a send whose lease is lost. */
	readonly leased: boolean;
	/** Where a run's users go, filled in by admit and read by attempted/result. */
	placement(users: ReadonlyArray<SyncUser>, destination: Destination): P;
	/** Admits users of `placement` from `from` on while the scope has room. */
	admit(placement: P, from: number, settings: SyncSettings, now: number): Awaitable<AdmitReply>;
	/**
	 * Cuts ripe windows, errors requests past the horizon, and takes the first request that may go now (a store may
	 * take up to `room` at once and hand the others out at the next calls).
	 */
	claim(now: number, settings: SyncSettings, terms: LeaseTerms, room: number): Awaitable<ClaimReply<C>>;
	/** Extends a claim's lease; false when it is no longer this holder's. */
	renew(claim: C, now: number, terms: LeaseTerms): Awaitable<boolean>;
	/** The outcome of an attempt (ignored when the claim is no longer this holder's). */
	settle(claim: C, settlement: Settlement, now: number): Awaitable<void>;
	/** A claimed request that was not sent: due again now, no failure counted. */
	handBack(claim: C, now: number): Awaitable<void>;
	/** Shutdown: hands back at once whatever it took for this process that no attempt has started on. */
	handBackHeld(now: number): Awaitable<void>;
	/** Ends every open window now. */
	cut(now: number): Awaitable<void>;
	/** A new credential: the earliest request waiting after an authorization failure becomes due now. */
	probe(now: number): Awaitable<void>;
	/** Whether a request is being sent, or may be sent now (not held back by a pause or a retry). */
	busy(now: number): Awaitable<boolean>;
	/** Whether every admitted user of `placement` was attempted: synced, errored, or scheduled for later. */
	attempted(placement: P, now: number): Awaitable<boolean>;
	/** The run's outcomes (after attempted() said true when it waited). */
	result(placement: P, notSynced: number, waited: boolean, rejection: Rejection | undefined): SubmitResult;
	recordNotSynced(reasons: ReadonlyArray<string>, now: number, settings: SyncSettings): Awaitable<void>;
	report(): Awaitable<Counters>;
	/** This process stops using the scope (shared state stays). */
	dispose(): void;
}
