import type { MappingBatch, MappingTarget } from '../../shared/transport/mapping';
import type { MappingAction } from '../../shared/transport/types';
import type { BacklogFullError, StateUnavailableError } from './errors';
import type { SyncSettings } from './settings';

/*
 * The engine's edges. It receives users, and talks to the outside only through what is declared here: a sender of
 * mapping requests, a pacer, a clock (clock.ts), and the state it keeps per scope (state.ts).
 */

/** Where a user goes: one audience of one advertiser, added or removed, with the id types the node sends. */
export type Destination = MappingTarget;

export interface SyncUser {
	/** Users with the same key inside one gathering window are sent once. */
	key: string;
	/** One hashed id per idSchema slot; undefined (or '') where the user lacks that id type. */
	ids: ReadonlyArray<string | undefined>;
	/** Add or remove this user; the destination's action when absent. Within a window the user's last action wins. */
	action?: MappingAction;
}

/**
 * Sends one request's users. Rejects with a SendFailure saying what kind of failure it was; anything else it throws
 * is treated as a retryable, unexpected failure. `signal` aborts the request (the engine's claim on it was lost, or
 * TikTok did not answer in time): a sender that has not written it yet must not.
 */
export type SendMapping = (batch: MappingBatch, options?: { signal?: AbortSignal }) => Promise<void>;

/** Resolves when the next request may start (the TikTok app's shared budget). */
export interface RequestPacer {
	acquire(): Promise<void>;
}

export type FailureClass = 'retryable' | 'reauthorize' | 'permanent';

/** A failed send, as the sender classified it. */
export interface FailureInfo {
	errorClass: FailureClass;
	/** TikTok asked to slow down: the scope holds new requests for the retry delay. */
	isRateLimit: boolean;
	/** Short, user-facing; carries TikTok's code and message, never identifiers. */
	reason: string;
}

export interface SubmitRequest {
	/** Who owns the counters and the journal, e.g. `${workflowId}:${nodeName}`. */
	scope: string;
	destination: Destination;
	users: ReadonlyArray<SyncUser>;
	/** Users the node refused before the engine (invalid input): one reason each. */
	notSyncedReasons?: ReadonlyArray<string>;
	send: SendMapping;
	pacer: RequestPacer;
	settings?: Partial<SyncSettings>;
	/**
	 * true: resolve once each user is synced, errored or scheduled for retry (then 'pending').
	 * false: resolve once the users are accepted; all are reported 'pending'.
	 */
	waitForDelivery: boolean;
}

export type UserStatus = 'synced' | 'pending' | 'errored' | 'rejected';

export interface UserOutcome {
	readonly status: UserStatus;
	/** Why errored/rejected, or the error a pending user is being retried after. */
	readonly reason?: string;
}

/** What happened to this run's users (entered = notSynced + synced + pending + errored; rejected users never entered). */
export interface RunTallies {
	entered: number;
	notSynced: number;
	synced: number;
	pending: number;
	errored: number;
	rejected: number;
	/** Of the synced: added to the audience, and removed from it. */
	added: number;
	removed: number;
}

export interface SubmitResult {
	/** Same order as the submitted users. Outcome objects are shared between users: treat them as read-only. */
	outcomes: UserOutcome[];
	/** Per user, the action of the request carrying it: its own, or a later one for the same user in its window. */
	actions: Array<MappingAction | undefined>;
	tallies: RunTallies;
	/** Set when some users were turned away (their outcome is 'rejected'): the backlog is full, or Redis is unreachable. */
	rejection?: BacklogFullError | StateUnavailableError;
}
