import type { RequestPacer } from '../../shared/transport/rateLimit';
import type { IdType, MappingAction, MappingRequest } from '../../shared/transport/types';
import type { BacklogFullError } from './errors';

/** Where a user goes: one audience of one advertiser, added or removed, with the id types the node sends. */
export interface Destination {
	advertiserId: string;
	audienceId: string;
	action: MappingAction;
	idSchema: IdType[];
}

export interface SyncUser {
	/** Users with the same key inside one gathering window are sent once. */
	key: string;
	/** One hashed id per idSchema slot; undefined (or '') where the user lacks that id type. */
	ids: ReadonlyArray<string | undefined>;
}

/** Sends one segment-mapping request; throws TikTokApiError (anything else counts as retryable). */
export type SendMapping = (request: MappingRequest) => Promise<void>;

export interface SyncSettings {
	/** How long users are gathered before a request goes out; the timer starts with the first user. */
	windowMs: number;
	/** Users per request, at most TikTok's 10,000. A full request goes out at once. */
	usersPerRequest: number;
	/** Users not delivered this long after they entered are errored. */
	retryHorizonMs: number;
	/** Pending users a scope may hold (memory and journal size bound). */
	maxPendingUsers: number;
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
}

export interface SubmitResult {
	/** Same order as the submitted users. Outcome objects are shared between users: treat them as read-only. */
	outcomes: UserOutcome[];
	tallies: RunTallies;
	/** Set when some users were turned away because the backlog is full (their outcome is 'rejected'). */
	rejection?: BacklogFullError;
}
