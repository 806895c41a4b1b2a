import { applyMapping } from './mapping';
import { ApiFailure, asId, bodyIdList, queryIdList, queryInt } from './http';
import { MAX_AUDIENCE_NAME_LENGTH, MAX_AUDIENCES_PER_ADVERTISER, MIN_REPORTED_AUDIENCE_SIZE } from './seed';
import type { LocalApp, LocalAudience, LocalToken, TikTokLocalStore } from './store';

/** Handlers for /open_api/v1.3/<route>/. Each validates its input and throws ApiFailure for business errors. */

export interface TikTokLocalConfig {
	/** Accepted requests per app in any sliding second; more get code 40100. */
	rateLimitPerSecond: number;
	/** oauth/token/ answer: 'flat' (documented, suits n8n's OAuth2) or 'wrapped' under data like oauth2/access_token/. */
	tokenResponseShape: 'flat' | 'wrapped';
	/** Skip per-character hash checks and keep only member counts, so a million users cost almost nothing. */
	benchMode: boolean;
	/** HTTP status for a missing or bad token (40104/40105); 200 like most of TikTok, 403 as one live test saw. */
	invalidTokenHttpStatus: number;
	/** Keep a log of API requests (arrival time, route, app, code, mapping ids) for GET /__local/requests; see requestLog.ts. */
	recordRequests: boolean;
}

/** Mapping traffic, for benchmarks and tests. */
export interface MappingCounters {
	/** Mapping requests applied (code 0). */
	mappingRequests: number;
	/** Mapping requests that reached validation and were refused. */
	mappingRequestsRefused: number;
	/** Rows (users) in applied mapping requests, adds and deletes together. */
	usersReceived: number;
	usersAdded: number;
	usersDeleted: number;
}

export interface ApiContext {
	store: TikTokLocalStore;
	config: TikTokLocalConfig;
	counters: MappingCounters;
	query: URLSearchParams;
	/** The parsed body; throws 40000 for malformed JSON. */
	body(): Record<string, unknown>;
	/** Set for routes that need an Access-Token (checked before the handler runs). */
	token?: LocalToken;
	app?: LocalApp;
}

/** Most answers put their payload under `data`; oauth/token/ in its documented shape puts fields at the top level. */
export type ApiReply = { data: unknown } | { flat: Record<string, unknown> };

export interface ApiRoute {
	method: 'GET' | 'POST';
	needsToken: boolean;
	handle(ctx: ApiContext): ApiReply;
}

/** Scope IDs TikTok lists for a token (ad account read, audience management). */
const GRANTED_SCOPES = [4, 5];
const DAY_MS = 24 * 60 * 60 * 1000;
const AUDIENCE_RETENTION_MS = 365 * DAY_MS;
const EXPIRING_WARNING_MS = 60 * DAY_MS;

function tikTokTime(epochMs: number): string {
	return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

function tokenApp(ctx: ApiContext): LocalApp {
	if (!ctx.app) throw new ApiFailure(40104, 'Access token is empty.');
	return ctx.app;
}

function requiredString(source: Record<string, unknown> | URLSearchParams, name: string): string {
	const value = source instanceof URLSearchParams ? source.get(name) : asId(source[name]);
	if (value === null || value === undefined || value === '') {
		throw new ApiFailure(40002, `Parameter error: ${name} is required.`);
	}
	return value;
}

/** The advertiser, if the token's app reaches it; TikTok's answer for anything else is a permission error. */
function reachableAdvertiser(ctx: ApiContext, advertiserId: string): string {
	if (!tokenApp(ctx).advertiserIds.has(advertiserId) || !ctx.store.advertisers.has(advertiserId)) {
		throw new ApiFailure(40001, `No permission to operate advertiser ${advertiserId}, or it does not exist.`);
	}
	return advertiserId;
}

/** A live audience of this advertiser; 40002 for unknown, deleted or someone else's. */
function ownedAudience(ctx: ApiContext, advertiserId: string, audienceId: string): LocalAudience {
	const audience = ctx.store.liveAudience(audienceId);
	if (!audience || audience.advertiserId !== advertiserId) {
		throw new ApiFailure(40002, `Parameter error: invalid audience ID ${audienceId}.`);
	}
	return audience;
}

/** TikTok shows no size until roughly 1,000 users matched. The largest per-type count stands in for distinct users. */
function coverNum(audience: LocalAudience): number {
	const users = Math.max(...audience.memberCountByType);
	return users >= MIN_REPORTED_AUDIENCE_SIZE ? users : 0;
}

function expiry(audience: LocalAudience): { expired_time: string; is_expiring: boolean } {
	const expiresAt = audience.updatedAt + AUDIENCE_RETENTION_MS;
	return { expired_time: tikTokTime(expiresAt), is_expiring: expiresAt - Date.now() < EXPIRING_WARNING_MS };
}

/** Checks app_id + secret; 40101 (TikTok's INVALID_PARTNER) when they do not name a known app. */
function authenticateApp(ctx: ApiContext, appId: string, secret: string): LocalApp {
	const app = ctx.store.apps.get(appId);
	if (!app || app.secret !== secret) throw new ApiFailure(40101, 'Invalid app_id or secret.');
	return app;
}

function exchangeAuthCode(ctx: ApiContext, app: LocalApp, code: string): { access_token: string; advertiser_ids: string[]; scope: number[] } {
	const problem = ctx.store.consumeAuthCode(code, app.appId);
	if (problem) {
		const why = problem === 'used' ? 'has already been used' : problem === 'expired' ? 'has expired' : 'is invalid';
		throw new ApiFailure(40110, `The auth_code ${why}. Please authorize again.`);
	}
	const token = ctx.store.issueAccessToken(app.appId);
	return { access_token: token.token, advertiser_ids: ctx.store.advertiserIdsOf(app.appId), scope: GRANTED_SCOPES };
}

const oauthToken: ApiRoute = {
	method: 'POST',
	needsToken: false,
	handle(ctx) {
		const body = ctx.body();
		// Standard OAuth field names, with TikTok's native names accepted as a courtesy.
		const appId = asId(body.client_id) ?? asId(body.app_id);
		const secret = body.client_secret ?? body.secret;
		const code = body.code ?? body.auth_code;
		if (!appId) throw new ApiFailure(40002, 'Parameter error: client_id is required.');
		if (typeof secret !== 'string' || !secret) throw new ApiFailure(40002, 'Parameter error: client_secret is required.');
		if (typeof code !== 'string' || !code) throw new ApiFailure(40002, 'Parameter error: code is required.');
		if (body.grant_type !== undefined && body.grant_type !== 'authorization_code') {
			throw new ApiFailure(40002, 'Parameter error: grant_type must be authorization_code.');
		}
		const app = authenticateApp(ctx, appId, secret);
		const issued = exchangeAuthCode(ctx, app, code);
		if (ctx.config.tokenResponseShape === 'wrapped') return { data: issued };
		return { flat: { access_token: issued.access_token, token_type: 'Bearer', advertiser_ids: issued.advertiser_ids, scope: issued.scope } };
	},
};

const oauth2AccessToken: ApiRoute = {
	method: 'POST',
	needsToken: false,
	handle(ctx) {
		const body = ctx.body();
		const appId = requiredString(body, 'app_id');
		const secret = requiredString(body, 'secret');
		const code = requiredString(body, 'auth_code');
		return { data: exchangeAuthCode(ctx, authenticateApp(ctx, appId, secret), code) };
	},
};

const oauth2RevokeToken: ApiRoute = {
	method: 'POST',
	needsToken: false,
	handle(ctx) {
		const body = ctx.body();
		const app = authenticateApp(ctx, requiredString(body, 'app_id'), requiredString(body, 'secret'));
		const accessToken = requiredString(body, 'access_token');
		const token = ctx.store.activeToken(accessToken);
		if (!token || token.appId !== app.appId) {
			throw new ApiFailure(40105, 'Access token is incorrect or has been revoked.');
		}
		ctx.store.revokeToken(accessToken);
		return { data: { app_id: app.appId, advertiser_ids: ctx.store.advertiserIdsOf(app.appId) } };
	},
};

const userInfo: ApiRoute = {
	method: 'GET',
	needsToken: true,
	handle(ctx) {
		const { user } = tokenApp(ctx);
		return {
			data: {
				display_name: user.displayName,
				email: user.email,
				core_user_id: user.coreUserId,
				create_time: user.createTime,
				avatar_url: user.avatarUrl,
			},
		};
	},
};

const oauth2AdvertiserGet: ApiRoute = {
	method: 'GET',
	needsToken: true,
	handle(ctx) {
		const app = authenticateApp(ctx, requiredString(ctx.query, 'app_id'), requiredString(ctx.query, 'secret'));
		if (app.appId !== tokenApp(ctx).appId) {
			throw new ApiFailure(40001, 'No permission: the access token was not issued to this app_id.');
		}
		const list = ctx.store.advertiserIdsOf(app.appId).map((id) => ({
			advertiser_id: id,
			advertiser_name: ctx.store.advertisers.get(id)?.name ?? '',
		}));
		return { data: { list } };
	},
};

const advertiserInfo: ApiRoute = {
	method: 'GET',
	needsToken: true,
	handle(ctx) {
		const ids = queryIdList(ctx.query, 'advertiser_ids');
		if (!ids || ids.length === 0) throw new ApiFailure(40002, 'Parameter error: advertiser_ids is required.');
		if (ids.length > 100) throw new ApiFailure(40002, 'Parameter error: advertiser_ids accepts at most 100 IDs.');
		const list = ids.map((id) => {
			const advertiser = ctx.store.advertisers.get(reachableAdvertiser(ctx, id));
			if (!advertiser) throw new ApiFailure(40001, `No permission to operate advertiser ${id}, or it does not exist.`);
			return {
				advertiser_id: advertiser.id,
				name: advertiser.name,
				status: 'STATUS_ENABLE',
				role: 'ROLE_ADVERTISER',
				currency: advertiser.currency,
				timezone: advertiser.timezone,
				country: advertiser.country,
				company: advertiser.name,
				create_time: advertiser.createTime,
				balance: 0,
			};
		});
		return { data: { list } };
	},
};

const segmentAudience: ApiRoute = {
	method: 'POST',
	needsToken: true,
	handle(ctx) {
		const body = ctx.body();
		const advertiserId = reachableAdvertiser(ctx, requiredString(body, 'advertiser_id'));
		const action = body.action === undefined ? 'create' : body.action;
		if (action === 'delete') {
			const audienceId = requiredString(body, 'delete_audience_id');
			ownedAudience(ctx, advertiserId, audienceId);
			ctx.store.deleteAudience(audienceId);
			return { data: {} };
		}
		if (action !== 'create') throw new ApiFailure(40002, 'Parameter error: action must be "create" or "delete".');
		const rawName = body.custom_audience_name;
		if (typeof rawName !== 'string' || rawName.trim() === '') {
			throw new ApiFailure(40002, 'Parameter error: custom_audience_name is required.');
		}
		const name = rawName.length > MAX_AUDIENCE_NAME_LENGTH ? `${rawName.slice(0, MAX_AUDIENCE_NAME_LENGTH - 3)}...` : rawName;
		if (ctx.store.liveAudiencesOf(advertiserId).length >= MAX_AUDIENCES_PER_ADVERTISER) {
			throw new ApiFailure(
				40002,
				`Parameter error: advertiser ${advertiserId} already has ${MAX_AUDIENCES_PER_ADVERTISER} custom audiences, the maximum. Delete some before creating more.`,
			);
		}
		return { data: { audience_id: ctx.store.createAudience(advertiserId, name).id } };
	},
};

const segmentMapping: ApiRoute = {
	method: 'POST',
	needsToken: true,
	handle(ctx) {
		const app = tokenApp(ctx);
		let outcome;
		try {
			outcome = applyMapping(ctx.store, ctx.body(), app.advertiserIds, { benchMode: ctx.config.benchMode });
		} catch (error) {
			ctx.counters.mappingRequestsRefused++;
			throw error;
		}
		ctx.counters.mappingRequests++;
		ctx.counters.usersReceived += outcome.rows;
		if (outcome.action === 'add') ctx.counters.usersAdded += outcome.rows;
		else ctx.counters.usersDeleted += outcome.rows;
		return { data: {} };
	},
};

const customAudienceList: ApiRoute = {
	method: 'GET',
	needsToken: true,
	handle(ctx) {
		const advertiserId = reachableAdvertiser(ctx, requiredString(ctx.query, 'advertiser_id'));
		const page = queryInt(ctx.query, 'page', 1, 1, Number.MAX_SAFE_INTEGER);
		const pageSize = queryInt(ctx.query, 'page_size', 10, 1, 100);
		let audiences = ctx.store.liveAudiencesOf(advertiserId);
		const onlyIds = queryIdList(ctx.query, 'custom_audience_ids');
		if (onlyIds && onlyIds.length > 0) {
			const wanted = new Set(onlyIds);
			audiences = audiences.filter((audience) => wanted.has(audience.id));
		}
		const list = audiences.slice((page - 1) * pageSize, page * pageSize).map((audience) => ({
			audience_id: audience.id,
			name: audience.name,
			audience_type: 'Partner',
			calculate_type: null,
			cover_num: coverNum(audience),
			shared: false,
			is_creator: true,
			is_valid: true,
			...expiry(audience),
			create_time: tikTokTime(audience.createdAt),
		}));
		return {
			data: {
				page_info: {
					page,
					page_size: pageSize,
					total_number: audiences.length,
					total_page: Math.ceil(audiences.length / pageSize),
				},
				list,
			},
		};
	},
};

const customAudienceGet: ApiRoute = {
	method: 'GET',
	needsToken: true,
	handle(ctx) {
		const advertiserId = reachableAdvertiser(ctx, requiredString(ctx.query, 'advertiser_id'));
		const ids = queryIdList(ctx.query, 'custom_audience_ids');
		if (!ids || ids.length === 0) throw new ApiFailure(40002, 'Parameter error: custom_audience_ids is required.');
		if (ids.length > 100) throw new ApiFailure(40002, 'Parameter error: custom_audience_ids accepts at most 100 IDs.');
		const list = ids.map((id) => {
			const audience = ownedAudience(ctx, advertiserId, id);
			return {
				audience_details: {
					audience_id: audience.id,
					name: audience.name,
					type: 'Partner',
					audience_sub_type: 'NORMAL',
					calculate_type: 'MULTIPLE_TYPES',
					cover_num: coverNum(audience),
					is_valid: true,
					...expiry(audience),
					is_auto_refresh: false,
					is_creator: true,
					shared: false,
					owner_id: advertiserId,
					create_time: tikTokTime(audience.createdAt),
					msg: '',
					error_msg: '',
					rule: null,
					lookalike_spec: null,
				},
				audience_history: [],
			};
		});
		return { data: { list } };
	},
};

const customAudienceDelete: ApiRoute = {
	method: 'POST',
	needsToken: true,
	handle(ctx) {
		const body = ctx.body();
		const advertiserId = reachableAdvertiser(ctx, requiredString(body, 'advertiser_id'));
		const ids = bodyIdList(body, 'custom_audience_ids');
		if (ids.length > 100) throw new ApiFailure(40002, 'Parameter error: custom_audience_ids accepts at most 100 IDs.');
		// Check all before deleting any, so a bad ID leaves everything in place.
		for (const id of ids) ownedAudience(ctx, advertiserId, id);
		for (const id of ids) ctx.store.deleteAudience(id);
		return { data: {} };
	},
};

/** Keyed by the path after /open_api/v1.3/, always with a trailing slash. */
export const API_ROUTES: Readonly<Record<string, ApiRoute>> = {
	'oauth/token/': oauthToken,
	'oauth2/access_token/': oauth2AccessToken,
	'oauth2/revoke_token/': oauth2RevokeToken,
	'user/info/': userInfo,
	'oauth2/advertiser/get/': oauth2AdvertiserGet,
	'advertiser/info/': advertiserInfo,
	'segment/audience/': segmentAudience,
	'segment/mapping/': segmentMapping,
	'dmp/custom_audience/list/': customAudienceList,
	'dmp/custom_audience/get/': customAudienceGet,
	'dmp/custom_audience/delete/': customAudienceDelete,
};

/** The app a token-less OAuth call speaks for, so its requests count against that app's rate limit. */
export function appIdOfOAuthBody(body: Record<string, unknown>): string | undefined {
	return asId(body.client_id) ?? asId(body.app_id);
}
