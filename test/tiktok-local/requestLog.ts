/**
 * An opt-in log of API requests (config `recordRequests`, env TIKTOK_LOCAL_RECORD=1): when each arrived (epoch ms,
 * so tests in other processes can line it up with their own clocks), its route, app, the envelope code it got, and
 * for segment/mapping/ the action and the `${TYPE}:${hash}` ids of its rows. Queue-mode e2e tests read it over
 * GET /__local/requests to check pacing across n8n workers (sliding seconds) and exact delivery (distinct ids).
 * Off by default: the benchmark sends millions of rows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

import { MAPPING_ID_TYPES } from './store';

/** Entries kept at most; older ones are dropped (and counted in `dropped`). */
export const REQUEST_LOG_LIMIT = 200_000;

export interface LoggedRequest {
	/** 1, 2, … in arrival order (not reset by clear(), so `since` keeps working). */
	seq: number;
	/** Date.now() when the request arrived. */
	at: number;
	/** Date.now() when the answer was sent (undefined while in flight, or for a dropped connection). */
	answeredAt?: number;
	method: string;
	/** Route key as in stats().byPath: 'segment/mapping/', 'portal/auth', … */
	path: string;
	/** The app of the Access-Token header (undefined when missing or unknown). */
	appId?: string;
	/** HTTP status of the answer; 0 for a connection reset by a fault. */
	httpStatus?: number;
	/** TikTok envelope code of the answer (0 = OK, 40100 = rate limited, …). */
	code?: number;
	/** True when an injected fault answered instead of the handler. */
	faulted?: boolean;
	/** segment/mapping/ only: 'add' | 'delete' and the row ids, `${TYPE}:${lower-case hash}` per filled slot. */
	action?: string;
	rows?: number;
	ids?: string[];
}

export class RequestLog {
	private entries: LoggedRequest[] = [];
	private nextSeq = 1;
	dropped = 0;

	/** Start an entry for a request that just arrived. */
	begin(req: IncomingMessage, res: ServerResponse, path: string, appId: string | undefined): LoggedRequest {
		const entry: LoggedRequest = { seq: this.nextSeq++, at: Date.now(), method: req.method ?? 'GET', path, ...(appId ? { appId } : {}) };
		this.entries.push(entry);
		if (this.entries.length > REQUEST_LOG_LIMIT) {
			const excess = this.entries.length - REQUEST_LOG_LIMIT;
			this.entries.splice(0, excess);
			this.dropped += excess;
		}
		// the envelope code is read from the answer's JSON as it is written (answers are small JSON bodies)
		const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
		(res as unknown as { end: (...args: unknown[]) => ServerResponse }).end = (...args: unknown[]) => {
			const chunk = args[0];
			const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.subarray(0, 200).toString('utf8') : '';
			const code = /^\s*\{\s*"code"\s*:\s*(-?\d+)/.exec(text)?.[1];
			if (code !== undefined) entry.code = Number(code);
			entry.httpStatus = res.statusCode;
			entry.answeredAt = Date.now();
			return end(...args);
		};
		res.once('close', () => {
			if (entry.answeredAt === undefined) entry.httpStatus = 0;
		});
		return entry;
	}

	/** Record a segment/mapping/ body (best effort: a malformed body records nothing). */
	static describeMapping(entry: LoggedRequest, body: Record<string, unknown>): void {
		if (typeof body.action === 'string') entry.action = body.action;
		else entry.action = 'add';
		const schema = Array.isArray(body.id_schema) ? body.id_schema.map((type) => String(type).toUpperCase()) : [];
		const rows = Array.isArray(body.batch_data) ? body.batch_data : [];
		entry.rows = rows.length;
		const ids: string[] = [];
		for (const row of rows) {
			if (!Array.isArray(row)) continue;
			row.forEach((slot: unknown, index: number) => {
				const id = slot && typeof slot === 'object' ? (slot as { id?: unknown }).id : undefined;
				const type = schema[index];
				if (typeof id === 'string' && type && (MAPPING_ID_TYPES as readonly string[]).includes(type)) ids.push(`${type}:${id.toLowerCase()}`);
			});
		}
		entry.ids = ids;
	}

	/** Entries with seq > since (all by default), optionally of one route. */
	list(opts: { since?: number; path?: string } = {}): LoggedRequest[] {
		const since = opts.since ?? 0;
		return this.entries.filter((entry) => entry.seq > since && (opts.path === undefined || entry.path === opts.path));
	}

	clear(): void {
		this.entries = [];
		this.dropped = 0;
	}
}
