/**
 * Every failure of a TikTok call becomes one TikTokApiError with a class that tells callers what to do:
 * - retryable: try again later (rate limits, TikTok-side faults, timeouts, broken connections, non-JSON bodies);
 * - reauthorize: the token is missing, expired, revoked or lacks a scope: only reconnecting the credential helps;
 * - permanent: the request itself is wrong (bad parameters, no permission, audience gone): retrying cannot help.
 */
export type TikTokErrorClass = 'retryable' | 'reauthorize' | 'permanent';

/** Body codes that mean "too many requests" (QPS/QPM limits): retry later, and slow down. */
const RATE_LIMIT_CODES = new Set([40100, 40016, 40132, 61000]);
/** Body codes TikTok documents as transient: the rate limits, system errors, maintenance. */
const RETRYABLE_CODES = new Set([...RATE_LIMIT_CODES, 50000, 50002, 60001]);
/** Body codes that mean the token itself is unusable. */
const REAUTHORIZE_CODES = new Set([40102, 40104, 40105, 40130]);

export interface TikTokFailure {
	/** TikTok's body `code`, when a JSON envelope came back. */
	code?: number;
	/** HTTP status, when a response came back at all. */
	httpStatus?: number;
	/** A network-level failure: timeout, reset, refused, DNS. */
	network?: boolean;
	/** The body was not the JSON envelope TikTok documents (HTML error page, truncated body). */
	malformedBody?: boolean;
}

export function classifyFailure(failure: TikTokFailure): TikTokErrorClass {
	const { code, httpStatus } = failure;
	if (failure.network || failure.malformedBody) return 'retryable';
	if (httpStatus === 429 || (httpStatus !== undefined && httpStatus >= 500)) return 'retryable';
	if (code !== undefined) {
		if (RETRYABLE_CODES.has(code) || (code >= 51000 && code <= 51099)) return 'retryable';
		if (REAUTHORIZE_CODES.has(code)) return 'reauthorize';
	}
	if (httpStatus === 401 || httpStatus === 403) return 'reauthorize';
	return 'permanent';
}

export class TikTokApiError extends Error {
	readonly code?: number;
	readonly httpStatus?: number;
	readonly requestId?: string;
	readonly tiktokMessage: string;
	readonly errorClass: TikTokErrorClass;
	/** The API path that failed, without query string (never carries secrets or identifiers). */
	readonly path?: string;

	constructor(args: {
		message: string;
		tiktokMessage?: string;
		code?: number;
		httpStatus?: number;
		requestId?: string;
		path?: string;
		errorClass?: TikTokErrorClass;
		network?: boolean;
		malformedBody?: boolean;
	}) {
		super(args.message);
		this.name = 'TikTokApiError';
		this.code = args.code;
		this.httpStatus = args.httpStatus;
		this.requestId = args.requestId;
		this.path = args.path;
		this.tiktokMessage = args.tiktokMessage ?? args.message;
		this.errorClass =
			args.errorClass ??
			classifyFailure({
				code: args.code,
				httpStatus: args.httpStatus,
				network: args.network,
				malformedBody: args.malformedBody,
			});
	}

	get isRateLimit(): boolean {
		return (this.code !== undefined && RATE_LIMIT_CODES.has(this.code)) || this.httpStatus === 429;
	}
}

export function isTikTokApiError(error: unknown): error is TikTokApiError {
	return error instanceof TikTokApiError || (error as { name?: string } | null)?.name === 'TikTokApiError';
}
