/**
 * The local TikTok API's configuration: start-up options, defaults, and the checks applied to every change (from
 * `startTikTokLocal()` options, `setConfig()` and `POST /__local/config`).
 */
import type { TikTokLocalConfig } from './routes';

export interface TikTokLocalOptions {
	/** 0 (the default) picks a free port. */
	port?: number;
	rateLimitPerSecond?: number;
	tokenResponseShape?: 'flat' | 'wrapped';
	benchMode?: boolean;
	invalidTokenHttpStatus?: number;
	/** Log API requests for GET /__local/requests (see requestLog.ts); default false. */
	recordRequests?: boolean;
}

export const DEFAULT_CONFIG: TikTokLocalConfig = {
	rateLimitPerSecond: 50,
	tokenResponseShape: 'flat',
	benchMode: false,
	invalidTokenHttpStatus: 200,
	recordRequests: false,
};

export function validateConfigChanges(changes: unknown): Partial<TikTokLocalConfig> {
	if (changes === null || typeof changes !== 'object' || Array.isArray(changes)) throw new Error('Config must be a JSON object');
	const input = changes as Record<string, unknown>;
	const result: Partial<TikTokLocalConfig> = {};
	if (input.rateLimitPerSecond !== undefined) {
		if (typeof input.rateLimitPerSecond !== 'number' || !(input.rateLimitPerSecond > 0)) {
			throw new Error('rateLimitPerSecond must be a positive number');
		}
		result.rateLimitPerSecond = input.rateLimitPerSecond;
	}
	if (input.tokenResponseShape !== undefined) {
		if (input.tokenResponseShape !== 'flat' && input.tokenResponseShape !== 'wrapped') {
			throw new Error('tokenResponseShape must be "flat" or "wrapped"');
		}
		result.tokenResponseShape = input.tokenResponseShape;
	}
	if (input.benchMode !== undefined) {
		if (typeof input.benchMode !== 'boolean') throw new Error('benchMode must be a boolean');
		result.benchMode = input.benchMode;
	}
	if (input.invalidTokenHttpStatus !== undefined) {
		const status = input.invalidTokenHttpStatus;
		if (typeof status !== 'number' || !Number.isInteger(status) || status < 200 || status > 599) {
			throw new Error('invalidTokenHttpStatus must be an HTTP status code');
		}
		result.invalidTokenHttpStatus = status;
	}
	if (input.recordRequests !== undefined) {
		if (typeof input.recordRequests !== 'boolean') throw new Error('recordRequests must be a boolean');
		result.recordRequests = input.recordRequests;
	}
	return result;
}

/** The start-up configuration: the defaults with the given options (checked) on top. */
export function configFromOptions(options: TikTokLocalOptions): TikTokLocalConfig {
	return {
		...DEFAULT_CONFIG,
		...validateConfigChanges({
			rateLimitPerSecond: options.rateLimitPerSecond,
			tokenResponseShape: options.tokenResponseShape,
			benchMode: options.benchMode,
			invalidTokenHttpStatus: options.invalidTokenHttpStatus,
			recordRequests: options.recordRequests,
		}),
	};
}
