import { clampRate, PACING_INTERVAL_MS, TIKTOK_MAX_REQUESTS_PER_SECOND, type RequestPacer } from '../transport/rateLimit';
import { digest } from './keys';

/*
 * One request pacer per TikTok app shared by every process that sends for it (n8n queue mode: several workers),
 * kept in Redis. It is the cross-process counterpart of nodes/shared/transport/rateLimit.ts and keeps its figures:
 * 50 requests per 1050 ms (the 5% margin absorbs arrival jitter, so TikTok's sliding second never sees more than 50),
 * evenly spaced (no burst: the in-process bucket holds one token).
 *
 * The algorithm is GCRA with burst tolerance 0, run in one Lua script on Redis's clock (TIME, microseconds): each key
 * holds the theoretical arrival time (TAT) of the next request. A request is admitted when now >= TAT, and the TAT
 * becomes now + emission interval; otherwise the script answers how long to wait and changes nothing. A caller with a
 * lower rate has a second key (its own TAT) and is admitted only when both keys allow it, both advanced in the same
 * script. Processes that lose a race simply wait again (with a little randomness, so waiters do not wake together).
 */

/** The part of ioredis's Redis and Cluster the pacer uses (defineCommand runs EVALSHA, falling back to EVAL). */
export interface RedisLike {
	defineCommand(name: string, definition: { lua: string; numberOfKeys?: number; readOnly?: boolean }): void;
}

export interface RedisPacerOptions {
	/** Prefix of every key the pacer writes (e.g. the package's Redis namespace). */
	keyPrefix: string;
	/** The TikTok app (its ID, or a token digest when no ID is known). Only a digest of it appears in keys. */
	appKey: string;
	/**
	 * Who asks for a lower rate (e.g. a node's workflow and node ID). Callers with the same key and rate share one
	 * budget. When requestsPerSecond is below the app's ceiling and no callerKey is given, all such unnamed callers at
	 * that rate share one budget (rather than the lower rate being ignored).
	 */
	callerKey?: string;
	/** At most this many requests per 1050 ms; clamped to (0, 50], and 50 when absent or not a positive number. */
	requestsPerSecond?: number;
	/** How the pacer waits (tests may replace it). */
	sleep?: (ms: number) => Promise<void>;
	/** Longest single wait before asking Redis again (default 1000 ms). */
	maxSleepMs?: number;
	/** Words a failed Redis call for the user (the package's one Redis message); default: the error as it is. */
	describeFailure?: (error: unknown) => Error;
}

// KEYS[1]: the app's TAT; KEYS[2] (optional): the caller's TAT.
// ARGV[1]: the app's emission interval in µs; ARGV[2]: the caller's; ARGV[3]: how long (ms) a key outlives its TAT.
// Returns {0, now} when admitted (both TATs advanced; now: the admission time, Redis TIME in µs), else {wait} in
// whole milliseconds (>= 1).
// TATs are integer microseconds since the epoch (~1.7e15, exact in Lua's doubles); they are written with %.0f
// because tostring() would print them with 14 significant digits.
const PACE_SCRIPT = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local keep = tonumber(ARGV[3])
local wait = 0
local tats = {}
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0') or 0
  tats[i] = tat
  if tat - now > wait then wait = tat - now end
end
if wait > 0 then
  return { math.ceil(wait / 1000) }
end
for i = 1, #KEYS do
  local interval = tonumber(ARGV[i])
  local tat = now + interval
  redis.call('SET', KEYS[i], string.format('%.0f', tat), 'PX', math.ceil(interval / 1000) + keep)
end
return { 0, string.format('%.0f', now) }
`;

const COMMAND_APP = 'tiktokAudienceSyncPace1';
const COMMAND_APP_AND_CALLER = 'tiktokAudienceSyncPace2';
/** A key lives this long (ms) past its TAT; then it would allow the next request anyway. */
const KEEP_PAST_TAT_MS = 5000;
const DEFAULT_MAX_SLEEP_MS = 1000;

type PaceCommand = (...args: Array<string | number>) => Promise<unknown>;

const defaultSleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms));

/** The keys of one app (and caller): both carry the `{app:…}` hash tag, so they sit in one Redis Cluster slot. */
export function redisPacerKeys(
	keyPrefix: string,
	appKey: string,
	caller?: { callerKey?: string; requestsPerSecond?: number },
): { app: string; caller?: string } {
	const app = `${keyPrefix}:{app:${digest(appKey, 20)}}:pace`;
	const rate = clampRate(caller?.requestsPerSecond);
	if (rate >= TIKTOK_MAX_REQUESTS_PER_SECOND) return { app };
	return { app, caller: `${app}:${digest(caller?.callerKey ?? '', 16)}:${rate}` };
}

/** The spacing (µs) between two requests of a budget of `requestsPerSecond`: 1050 ms / rate (the 5% margin). */
export function intervalMicros(requestsPerSecond: number): number {
	return Math.ceil((PACING_INTERVAL_MS * 1000) / requestsPerSecond);
}

export class RedisPacer implements RequestPacer {
	private readonly command: PaceCommand;
	private readonly keys: string[];
	private readonly intervals: number[];
	private readonly sleep: (ms: number) => Promise<void>;
	private readonly maxSleepMs: number;
	private readonly describeFailure?: (error: unknown) => Error;

	constructor(redis: RedisLike, options: RedisPacerOptions) {
		const rate = clampRate(options.requestsPerSecond);
		const keys = redisPacerKeys(options.keyPrefix, options.appKey, {
			callerKey: options.callerKey,
			requestsPerSecond: rate,
		});
		this.keys = keys.caller === undefined ? [keys.app] : [keys.app, keys.caller];
		this.intervals =
			keys.caller === undefined
				? [intervalMicros(TIKTOK_MAX_REQUESTS_PER_SECOND)]
				: [intervalMicros(TIKTOK_MAX_REQUESTS_PER_SECOND), intervalMicros(rate)];
		this.sleep = options.sleep ?? defaultSleep;
		this.maxSleepMs = Math.max(1, options.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS);
		this.describeFailure = options.describeFailure;

		const name = this.keys.length === 1 ? COMMAND_APP : COMMAND_APP_AND_CALLER;
		const commands = redis as unknown as Record<string, PaceCommand | undefined>;
		if (typeof commands[name] !== 'function') {
			redis.defineCommand(name, { lua: PACE_SCRIPT, numberOfKeys: this.keys.length });
		}
		const command = commands[name];
		if (typeof command !== 'function') throw new Error('RedisPacer: the Redis client did not define the pace command');
		this.command = command.bind(redis);
	}

	/** Resolves when this process may send one request of the app (and caller). */
	async acquire(): Promise<void> {
		await this.admit();
	}

	/**
	 * acquire(), resolving with the time Redis admitted the request (µs on Redis's clock): consecutive admissions of
	 * one budget are at least one emission interval apart, whatever the load on either side.
	 */
	async admit(): Promise<number> {
		const args: Array<string | number> = [...this.keys];
		args.push(this.intervals[0], this.intervals[1] ?? 0, KEEP_PAST_TAT_MS);
		for (;;) {
			let reply: unknown;
			try {
				reply = await this.command(...args);
			} catch (error) {
				throw this.describeFailure ? this.describeFailure(error) : error;
			}
			const [waitReply, admittedAt] = Array.isArray(reply) ? (reply as unknown[]) : [];
			const wait = Number(waitReply);
			if (wait === 0 && admittedAt !== undefined) return Number(admittedAt);
			if (!Number.isFinite(wait) || wait <= 0) throw new Error(`RedisPacer: unexpected reply from Redis: ${String(reply)}`);
			// Waiters that lost the same race would wake together: spread them by up to 10% of the wait, at most 2 ms
			// (every millisecond added here is lost throughput: a late request does not earn a sooner next one).
			const jitter = Math.random() * Math.min(2, wait * 0.1);
			await this.sleep(Math.min(this.maxSleepMs, wait + jitter));
		}
	}
}
