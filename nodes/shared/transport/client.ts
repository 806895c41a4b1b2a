import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import * as http from 'node:http';
import * as https from 'node:https';
import type { ZodType, ZodTypeDef } from 'zod';

import { TikTokApiError } from './errors';
import { pacerFor, type RequestPacer } from './rateLimit';
import {
	advertiserListSchema,
	audienceDetailsSchema,
	audienceListSchema,
	createAudienceSchema,
	envelopeSchema,
	userInfoSchema,
	type AudienceDetails,
	type AudienceListPage,
} from './schemas';
import type { MappingRequest } from './types';
import { digestHex } from '../digest';

/**
 * The only module that speaks HTTP to TikTok. Every call goes through `request`, which paces it on the app's shared
 * limiter, sends the token as `Access-Token`, and turns every failure (HTTP status, body `code`, network, non-JSON)
 * into one TikTokApiError with a class (retryable / reauthorize / permanent).
 */

export const API_PREFIX = '/open_api/v1.3/';
export const DEFAULT_TIMEOUT_MS = 30_000;
const TIKTOK_PARTIAL_OK = 20001;

export interface TikTokConnection {
	/** Scheme and host, e.g. https://business-api.tiktok.com — no path. */
	baseUrl: string;
	accessToken: string;
	appId?: string;
	secret?: string;
}

export interface ClientOptions {
	timeoutMs?: number;
	/** Lower the request rate for this caller inside the app's 50 requests/s budget. */
	requestsPerSecond?: number;
	callerKey?: string;
	/** Replace the shared pacer (tests and benchmarks). */
	pacer?: RequestPacer;
}

type Query = Record<string, string | number | boolean | Array<string | number> | undefined>;

// One keep-alive agent pair per process: TikTok calls reuse connections across executions.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 64 });

const axiosInstances = new Map<string, AxiosInstance>();

function axiosFor(baseUrl: string, timeoutMs: number): AxiosInstance {
	const key = `${baseUrl}\u0000${timeoutMs}`;
	let instance = axiosInstances.get(key);
	if (!instance) {
		instance = axios.create({
			baseURL: baseUrl,
			timeout: timeoutMs,
			httpAgent,
			httpsAgent,
			// We read the status and the body ourselves: TikTok reports most errors as HTTP 200 with a body code.
			validateStatus: () => true,
			responseType: 'text',
			transformResponse: [(body: unknown) => body],
			// The body is our own JSON.stringify output, sent as is. axios's default would JSON.parse every JSON
			// string body to "validate" it (~10 ms per 10,000-user mapping request) and then send it unchanged.
			transformRequest: [(body: unknown) => body],
			maxBodyLength: 64 * 1024 * 1024,
			maxContentLength: 64 * 1024 * 1024,
			maxRedirects: 0,
			proxy: false,
		});
		axiosInstances.set(key, instance);
	}
	return instance;
}

/** TikTok expects arrays in a GET query as JSON strings, e.g. custom_audience_ids=["123"]. */
export function serialiseQuery(query: Query | undefined): Record<string, string> | undefined {
	if (!query) return undefined;
	const out: Record<string, string> = {};
	for (const [key, value] of Object.entries(query)) {
		if (value === undefined) continue;
		out[key] = Array.isArray(value) ? JSON.stringify(value.map(String)) : String(value);
	}
	return out;
}

/** Normalise a base URL: no trailing slash, no API path (users sometimes paste the full API URL). */
export function normaliseBaseUrl(baseUrl: string): string {
	let url = baseUrl.trim().replace(/\/+$/, '');
	const prefix = API_PREFIX.replace(/\/$/, '');
	if (url.endsWith(prefix)) url = url.slice(0, -prefix.length);
	return url;
}

/** The key under which an app's requests share one rate budget: the app ID, or a digest of the token. */
export function appKeyFor(connection: TikTokConnection): string {
	if (connection.appId) return `app:${connection.appId}`;
	return `token:${digestHex('sha256', connection.accessToken).slice(0, 16)}`;
}

function networkErrorMessage(error: { code?: string; message?: string }): string {
	switch (error.code) {
		case 'ECONNABORTED':
		case 'ETIMEDOUT':
			return 'TikTok did not answer in time';
		case 'ECONNRESET':
		case 'EPIPE':
			return 'the connection to TikTok was reset';
		case 'ECONNREFUSED':
			return 'TikTok refused the connection';
		case 'ENOTFOUND':
		case 'EAI_AGAIN':
			return 'the TikTok API host could not be resolved';
		default:
			return 'the request to TikTok failed on the network';
	}
}

export class TikTokClient {
	readonly baseUrl: string;
	private readonly http: AxiosInstance;
	private readonly pacer: RequestPacer;

	constructor(
		private readonly connection: TikTokConnection,
		options: ClientOptions = {},
	) {
		this.baseUrl = normaliseBaseUrl(connection.baseUrl);
		this.http = axiosFor(this.baseUrl, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
		this.pacer =
			options.pacer ??
			pacerFor(appKeyFor(connection), { callerKey: options.callerKey, requestsPerSecond: options.requestsPerSecond });
	}

	/**
	 * Send one request and return the validated `data` of a `code: 0` envelope.
	 * `path` is relative to /open_api/v1.3/ and keeps TikTok's trailing slash.
	 */
	async request<T>(
		method: 'GET' | 'POST',
		path: string,
		options: { query?: Query; body?: unknown; schema?: ZodType<T, ZodTypeDef, unknown>; withToken?: boolean; signal?: AbortSignal } = {},
	): Promise<T> {
		const url = API_PREFIX + path.replace(/^\//, '');
		const headers: Record<string, string> = { Accept: 'application/json' };
		if (options.withToken !== false) headers['Access-Token'] = this.connection.accessToken;
		let payload: string | undefined;
		if (options.body !== undefined) {
			headers['Content-Type'] = 'application/json';
			payload = JSON.stringify(options.body);
		}

		await this.pacer.acquire();
		let response: AxiosResponse<string>;
		try {
			response = await this.http.request<string>({
				method,
				url,
				params: serialiseQuery(options.query),
				data: payload,
				headers,
				// An aborted signal stops the request before it is written (axios checks it first), or cuts it off.
				signal: options.signal,
			});
		} catch (error) {
			throw new TikTokApiError({
				message: networkErrorMessage(error as { code?: string }),
				network: true,
				path: url,
			});
		}
		return this.parse(response, url, options.schema);
	}

	private parse<T>(response: AxiosResponse<string>, url: string, schema?: ZodType<T, ZodTypeDef, unknown>): T {
		const httpStatus = response.status;
		let body: unknown;
		try {
			body = typeof response.data === 'string' && response.data.length > 0 ? JSON.parse(response.data) : undefined;
		} catch {
			body = undefined;
		}
		const envelope = envelopeSchema.safeParse(body);
		if (!envelope.success) {
			throw new TikTokApiError({
				message:
					httpStatus >= 200 && httpStatus < 300
						? 'TikTok answered with something that is not its JSON envelope'
						: `TikTok answered HTTP ${httpStatus} without its JSON envelope`,
				httpStatus,
				malformedBody: httpStatus < 400 || httpStatus >= 500 || httpStatus === 429,
				path: url,
			});
		}
		const { code, message, request_id: requestId, data } = envelope.data;
		// 20001 is TikTok's PARTIAL_OK: the request was applied (RudderStack treats it as success too).
		if ((code !== 0 && code !== TIKTOK_PARTIAL_OK) || httpStatus < 200 || httpStatus >= 300) {
			throw new TikTokApiError({
				message: message || `TikTok returned code ${code}`,
				tiktokMessage: message,
				code,
				httpStatus,
				requestId,
				path: url,
			});
		}
		if (!schema) return data as T;
		const parsed = schema.safeParse(data ?? {});
		if (!parsed.success) {
			throw new TikTokApiError({
				message: `TikTok's answer to ${url} did not have the expected fields`,
				code,
				httpStatus,
				requestId,
				path: url,
				errorClass: 'permanent',
			});
		}
		return parsed.data;
	}

	getUserInfo() {
		return this.request('GET', 'user/info/', { schema: userInfoSchema });
	}

	/** Ad accounts the token reaches. TikTok needs the app's ID and secret for this call. */
	async listAdvertisers(): Promise<Array<{ id: string; name: string }>> {
		if (!this.connection.appId || !this.connection.secret) {
			throw new TikTokApiError({
				message: 'listing ad accounts needs the App ID and Secret in the credential',
				errorClass: 'permanent',
			});
		}
		const data = await this.request('GET', 'oauth2/advertiser/get/', {
			query: { app_id: this.connection.appId, secret: this.connection.secret },
			schema: advertiserListSchema,
		});
		return data.list.map((item) => ({ id: item.advertiser_id, name: item.advertiser_name }));
	}

	async createSegmentAudience(advertiserId: string, name: string): Promise<string> {
		const data = await this.request('POST', 'segment/audience/', {
			body: { advertiser_id: advertiserId, action: 'create', custom_audience_name: name },
			schema: createAudienceSchema,
		});
		return data.audience_id;
	}

	async deleteSegmentAudience(advertiserId: string, audienceId: string): Promise<void> {
		await this.request('POST', 'segment/audience/', {
			body: { advertiser_id: advertiserId, action: 'delete', delete_audience_id: audienceId },
		});
	}

	async segmentMapping(request: MappingRequest, options: { signal?: AbortSignal } = {}): Promise<void> {
		await this.request('POST', 'segment/mapping/', {
			signal: options.signal,
			body: {
				advertiser_ids: request.advertiserIds,
				action: request.action,
				id_schema: request.idSchema,
				batch_data: request.batchData,
			},
		});
	}

	listCustomAudiences(advertiserId: string, page = 1, pageSize = 100): Promise<AudienceListPage> {
		return this.request('GET', 'dmp/custom_audience/list/', {
			query: { advertiser_id: advertiserId, page, page_size: pageSize },
			schema: audienceListSchema,
		});
	}

	async getCustomAudiences(advertiserId: string, audienceIds: string[]): Promise<AudienceDetails[]> {
		const data = await this.request('GET', 'dmp/custom_audience/get/', {
			query: { advertiser_id: advertiserId, custom_audience_ids: audienceIds },
			schema: audienceDetailsSchema,
		});
		return data.list.map((item) => item.audience_details);
	}
}
