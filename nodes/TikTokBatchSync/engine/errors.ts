import type { FailureInfo } from './types';

/** A submit found the scope's backlog of pending users full while nothing can drain it soon (TikTok keeps failing). */
export class BacklogFullError extends Error {
	readonly scope: string;
	readonly maxPendingUsers: number;
	/** How many of the submitted users were turned away (they were not counted anywhere). */
	readonly rejectedUsers: number;

	constructor(args: { scope: string; maxPendingUsers: number; rejectedUsers: number; lastError?: string }) {
		const cause = args.lastError ? ` TikTok's last error: ${args.lastError.replace(/[.\s]+$/, '')}.` : '';
		super(
			`${args.rejectedUsers} user(s) were not accepted: ${args.maxPendingUsers} users are already waiting to be ` +
				`synced to TikTok and are being retried.${cause} Fix the cause (for example reconnect the TikTok credential ` +
				'or check the audience), then send these users again; or raise "Max Pending Users".',
		);
		this.name = 'BacklogFullError';
		this.scope = args.scope;
		this.maxPendingUsers = args.maxPendingUsers;
		this.rejectedUsers = args.rejectedUsers;
	}

	/** For a scope (either engine's) that turned away `rejectedUsers`. */
	static of(scope: { name: string; settings: { maxPendingUsers: number }; lastError?: string }, rejectedUsers: number): BacklogFullError {
		return new BacklogFullError({ scope: scope.name, maxPendingUsers: scope.settings.maxPendingUsers, rejectedUsers, lastError: scope.lastError });
	}
}

/** A journal file (or an earlier build's static data) held something that is not a journal this engine wrote. */
export class JournalFormatError extends Error {
	constructor(detail: string) {
		super(`The saved Batch Sync journal could not be read (${detail}); its pending users cannot be restored.`);
		this.name = 'JournalFormatError';
	}
}

/** A failed send, classified by the sender (the node layer knows TikTok's codes; the engine only acts on the class). */
export class SendFailure extends Error {
	constructor(readonly info: FailureInfo) {
		super(info.reason);
		this.name = 'SendFailure';
	}

	/** Also true for a SendFailure from another copy of this module (n8n may load a package module more than once). */
	static is(error: unknown): error is SendFailure {
		return error instanceof SendFailure || ((error as { name?: string } | null)?.name === 'SendFailure' && 'info' in (error as object));
	}
}

/** The shared state (Redis, in queue mode) could not be reached: the users were not accepted, nothing was counted. */
export class StateUnavailableError extends Error {
	constructor(
		message: string,
		readonly rejectedUsers: number,
		readonly cause?: unknown,
	) {
		super(message);
		this.name = 'StateUnavailableError';
	}
}
