/**
 * The fixed state the local TikTok API starts with (and returns to on reset). Values are fake but shaped like
 * TikTok's: 19-digit app and advertiser IDs, opaque token strings.
 */

export interface SeedAdvertiser {
	readonly id: string;
	readonly name: string;
	readonly currency: string;
	readonly timezone: string;
	readonly country: string;
}

export interface SeedUser {
	readonly displayName: string;
	/** Already masked, as /user/info/ returns it. */
	readonly email: string;
	readonly coreUserId: string;
	/** Epoch seconds. */
	readonly createTime: number;
	readonly avatarUrl: string;
}

export interface SeedApp {
	readonly appId: string;
	readonly secret: string;
	readonly name: string;
	/** A long-term token issued to this app at start-up, so tests need not run OAuth first. */
	readonly accessToken: string;
	/** Ad accounts the app's tokens can reach. */
	readonly advertisers: readonly SeedAdvertiser[];
	/** The TikTok for Business user behind the app's tokens. */
	readonly user: SeedUser;
}

export const DEMO: SeedApp = Object.freeze({
	appId: '7000000000000000001',
	secret: 'local-demo-secret',
	name: 'Local Demo App',
	accessToken: 'local-demo-access-token',
	advertisers: Object.freeze([
		{ id: '7100000000000000001', name: 'Demo Store US', currency: 'USD', timezone: 'America/New_York', country: 'US' },
		{ id: '7100000000000000002', name: 'Demo Store EU', currency: 'EUR', timezone: 'Europe/Berlin', country: 'DE' },
	]),
	user: Object.freeze({
		displayName: 'Local Demo User',
		email: 'de***@example.com',
		coreUserId: '7200000000000000001',
		createTime: 1704067200,
		avatarUrl: 'http://127.0.0.1/avatar/demo.png',
	}),
});

/** A second app with its own token and ad account, for "audience or advertiser not owned by this token" cases. */
export const OTHER: SeedApp = Object.freeze({
	appId: '7000000000000000002',
	secret: 'local-other-secret',
	name: 'Local Other App',
	accessToken: 'local-other-access-token',
	advertisers: Object.freeze([
		{ id: '7100000000000000003', name: 'Other Agency Shop', currency: 'GBP', timezone: 'Europe/London', country: 'GB' },
	]),
	user: Object.freeze({
		displayName: 'Local Other User',
		email: 'ot***@example.com',
		coreUserId: '7200000000000000002',
		createTime: 1706745600,
		avatarUrl: 'http://127.0.0.1/avatar/other.png',
	}),
});

export const SEED_APPS: readonly SeedApp[] = Object.freeze([DEMO, OTHER]);

/** Audience IDs are handed out from here upwards (TikTok's are 16–19 digit strings). */
export const FIRST_AUDIENCE_ID = 1790000000000001;

/** TikTok's documented cap on custom audiences per ad account. */
export const MAX_AUDIENCES_PER_ADVERTISER = 400;

/** Segment names longer than this are cut to 67 characters plus "...". */
export const MAX_AUDIENCE_NAME_LENGTH = 70;

/** Most users one /segment/mapping/ request may carry. */
export const MAX_MAPPING_ROWS = 10_000;

/** TikTok only reports an audience size once about this many users matched. */
export const MIN_REPORTED_AUDIENCE_SIZE = 1_000;

/** auth_code lifetime. */
export const AUTH_CODE_TTL_MS = 60 * 60 * 1000;
