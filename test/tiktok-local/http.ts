import type { IncomingMessage, ServerResponse } from 'node:http';

/** A business error: answered as the TikTok envelope with a non-zero code (HTTP 200 unless stated). */
export class ApiFailure extends Error {
	constructor(
		readonly code: number,
		message: string,
		readonly httpStatus = 200,
	) {
		super(message);
		this.name = 'ApiFailure';
	}
}

export class BodyTooLargeError extends Error {
	constructor(readonly limit: number) {
		super(`Request body exceeds ${limit} bytes`);
		this.name = 'BodyTooLargeError';
	}
}

/** 10,000 mapping rows are about 1–2 MB; leave ample room without letting a runaway client eat memory. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		let tooLarge = false;
		req.on('data', (chunk: Buffer) => {
			if (tooLarge) return;
			size += chunk.length;
			if (size > limit) {
				tooLarge = true;
				chunks.length = 0;
				reject(new BodyTooLargeError(limit));
				return;
			}
			chunks.push(chunk);
		});
		req.on('end', () => {
			if (!tooLarge) resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
		});
		req.on('error', reject);
	});
}

/** TikTok's request IDs start with a UTC timestamp; a counter after it keeps them unique within the process. */
let requestCounter = 0;
let cachedSecond = -1;
let cachedStamp = '';
export function newRequestId(now = Date.now()): string {
	const second = Math.floor(now / 1000);
	if (second !== cachedSecond) {
		cachedSecond = second;
		cachedStamp = new Date(now).toISOString().replace(/[-:T]/g, '').slice(0, 14);
	}
	requestCounter = (requestCounter + 1) % 0x1000000000;
	return `${cachedStamp}${requestCounter.toString(16).toUpperCase().padStart(9, '0')}`;
}

export function sendJson(res: ServerResponse, status: number, payload: unknown, extraHeaders?: Record<string, string>): void {
	if (res.headersSent || res.destroyed) return;
	const text = JSON.stringify(payload);
	res.writeHead(status, {
		'content-type': 'application/json; charset=utf-8',
		'content-length': Buffer.byteLength(text),
		...extraHeaders,
	});
	res.end(text);
}

export function sendHtml(res: ServerResponse, status: number, html: string, extraHeaders?: Record<string, string>): void {
	if (res.headersSent || res.destroyed) return;
	res.writeHead(status, {
		'content-type': 'text/html; charset=utf-8',
		'content-length': Buffer.byteLength(html),
		...extraHeaders,
	});
	res.end(html);
}

/** The TikTok envelope for a failure. */
export function sendFailure(res: ServerResponse, failure: ApiFailure, extraHeaders?: Record<string, string>): void {
	sendJson(res, failure.httpStatus, { code: failure.code, message: failure.message, request_id: newRequestId(), data: {} }, extraHeaders);
}

export function escapeHtml(text: string): string {
	return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * Parses a request body: form-urlencoded when the content type says so, JSON otherwise (an empty body is {}).
 * Throws ApiFailure 40000 for malformed JSON or a JSON body that is not an object.
 */
export function parseBody(raw: Buffer, contentType: string | undefined): Record<string, unknown> {
	if (raw.length === 0) return {};
	const text = raw.toString('utf8');
	if (contentType?.toLowerCase().includes('application/x-www-form-urlencoded')) {
		return Object.fromEntries(new URLSearchParams(text));
	}
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch {
		throw new ApiFailure(40000, 'Invalid JSON in request body.');
	}
	if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
		throw new ApiFailure(40000, 'Invalid JSON in request body: expected an object.');
	}
	return parsed as Record<string, unknown>;
}

/** IDs are documented as strings but official examples send numbers; accept both, refuse anything else. */
export function asId(value: unknown): string | undefined {
	if (typeof value === 'string') return value.length > 0 ? value : undefined;
	if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
	return undefined;
}

/**
 * A list of IDs from a query string: a JSON array string (`ids=["1","2"]`, what most clients send), repeated keys
 * (`ids=1&ids=2`, the official JS SDK), or a comma list. Undefined when the parameter is absent.
 */
export function queryIdList(query: URLSearchParams, name: string): string[] | undefined {
	const values = query.getAll(name);
	if (values.length === 0) return undefined;
	const ids: string[] = [];
	for (const value of values) {
		const trimmed = value.trim();
		if (trimmed.startsWith('[')) {
			let parsed: unknown;
			try {
				parsed = JSON.parse(trimmed);
			} catch {
				throw new ApiFailure(40002, `Parameter error: ${name} is not a valid JSON array.`);
			}
			if (!Array.isArray(parsed)) throw new ApiFailure(40002, `Parameter error: ${name} must be an array.`);
			for (const item of parsed) {
				const id = asId(item);
				if (id === undefined) throw new ApiFailure(40002, `Parameter error: ${name} contains an invalid ID.`);
				ids.push(id);
			}
		} else {
			for (const part of trimmed.split(',')) {
				const id = part.trim().replace(/^"|"$/g, '');
				if (id) ids.push(id);
			}
		}
	}
	return ids;
}

/** A list of IDs from a JSON body field; throws 40002 naming the field when it is not a non-empty ID array. */
export function bodyIdList(body: Record<string, unknown>, name: string): string[] {
	const value = body[name];
	if (!Array.isArray(value) || value.length === 0) {
		throw new ApiFailure(40002, `Parameter error: ${name} is required and must be a non-empty array.`);
	}
	return value.map((item) => {
		const id = asId(item);
		if (id === undefined) throw new ApiFailure(40002, `Parameter error: ${name} contains an invalid ID.`);
		return id;
	});
}

/** Positive integer query parameter with a default; 40002 when present but not an integer in range. */
export function queryInt(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
	const raw = query.get(name);
	if (raw === null || raw === '') return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < min || value > max) {
		throw new ApiFailure(40002, `Parameter error: ${name} must be an integer between ${min} and ${max}.`);
	}
	return value;
}
