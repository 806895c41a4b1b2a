import { randomBytes } from 'node:crypto';

import { AUTH_CODE_TTL_MS, FIRST_AUDIENCE_ID, SEED_APPS, type SeedAdvertiser, type SeedUser } from './seed';

/**
 * Identifier types /segment/mapping/ accepts, with the hex length of each hash. Kept separate from the node's own
 * list on purpose: a stand-in that shared the client's constants would also share its mistakes.
 */
export const MAPPING_ID_TYPES = ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256', 'IDFA_MD5', 'AAID_SHA256', 'AAID_MD5'] as const;
export type MappingIdType = (typeof MAPPING_ID_TYPES)[number];
export const HASH_LENGTH_BY_TYPE: readonly number[] = MAPPING_ID_TYPES.map((type) => (type.endsWith('_MD5') ? 32 : 64));

export interface LocalApp {
	appId: string;
	secret: string;
	name: string;
	/** Insertion-ordered, so listings come back in a stable order. */
	advertiserIds: Set<string>;
	user: SeedUser;
}

export interface LocalAdvertiser extends SeedAdvertiser {
	/** Epoch seconds. */
	createTime: number;
}

export interface LocalToken {
	token: string;
	appId: string;
	revoked: boolean;
	createdAt: number;
}

export interface LocalAudience {
	id: string;
	advertiserId: string;
	name: string;
	createdAt: number;
	/** Last create or membership change; TikTok's expiry runs 365 days from the last use or change. */
	updatedAt: number;
	deleted: boolean;
	/** `${TYPE}:${lowercase hash}`; left empty in bench mode, where only the counts are kept. */
	members: Set<string>;
	/** members.size in normal mode; adds minus deletes (not de-duplicated) in bench mode. */
	memberCount: number;
	/** Same as memberCount, split by MAPPING_ID_TYPES index; the largest approximates distinct users. */
	memberCountByType: number[];
}

interface AuthCode {
	appId: string;
	expiresAt: number;
	used: boolean;
}

export type AuthCodeProblem = 'unknown' | 'used' | 'expired' | 'other-app';

/** All mutable state of the local API. Plain maps, so tests can look inside; use the methods to change it. */
export class TikTokLocalStore {
	readonly apps = new Map<string, LocalApp>();
	readonly advertisers = new Map<string, LocalAdvertiser>();
	readonly tokens = new Map<string, LocalToken>();
	readonly audiences = new Map<string, LocalAudience>();
	private readonly authCodes = new Map<string, AuthCode>();
	private nextAudienceId = FIRST_AUDIENCE_ID;

	constructor() {
		this.reset();
	}

	/** Back to the seed: the seeded apps, advertisers and tokens, no audiences, no auth codes. */
	reset(): void {
		this.apps.clear();
		this.advertisers.clear();
		this.tokens.clear();
		this.audiences.clear();
		this.authCodes.clear();
		this.nextAudienceId = FIRST_AUDIENCE_ID;
		for (const seed of SEED_APPS) {
			this.apps.set(seed.appId, {
				appId: seed.appId,
				secret: seed.secret,
				name: seed.name,
				advertiserIds: new Set(seed.advertisers.map((advertiser) => advertiser.id)),
				user: seed.user,
			});
			for (const advertiser of seed.advertisers) {
				this.advertisers.set(advertiser.id, { ...advertiser, createTime: seed.user.createTime });
			}
			this.tokens.set(seed.accessToken, { token: seed.accessToken, appId: seed.appId, revoked: false, createdAt: Date.now() });
		}
	}

	/** The token's record if it exists and is not revoked. */
	activeToken(token: string): LocalToken | undefined {
		const found = this.tokens.get(token);
		return found && !found.revoked ? found : undefined;
	}

	/** Registers a token for an app (a reconnect in tests); an existing token of that name is replaced and un-revoked. */
	addToken(token: string, appId: string): LocalToken {
		if (!this.apps.has(appId)) throw new Error(`Unknown app ${appId}`);
		if (!token) throw new Error('Token must not be empty');
		const record: LocalToken = { token, appId, revoked: false, createdAt: Date.now() };
		this.tokens.set(token, record);
		return record;
	}

	issueAccessToken(appId: string): LocalToken {
		return this.addToken(randomBytes(20).toString('hex'), appId);
	}

	revokeToken(token: string): boolean {
		const found = this.tokens.get(token);
		if (!found || found.revoked) return false;
		found.revoked = true;
		return true;
	}

	issueAuthCode(appId: string, now = Date.now()): string {
		if (!this.apps.has(appId)) throw new Error(`Unknown app ${appId}`);
		const code = randomBytes(16).toString('hex');
		this.authCodes.set(code, { appId, expiresAt: now + AUTH_CODE_TTL_MS, used: false });
		return code;
	}

	/** Spends a single-use auth code; on success returns undefined, otherwise why it was refused. */
	consumeAuthCode(code: string, appId: string, now = Date.now()): AuthCodeProblem | undefined {
		const found = this.authCodes.get(code);
		if (!found) return 'unknown';
		if (found.used) return 'used';
		if (found.expiresAt <= now) return 'expired';
		if (found.appId !== appId) return 'other-app';
		found.used = true;
		return undefined;
	}

	/** Advertiser IDs an app's tokens reach, in seed order. */
	advertiserIdsOf(appId: string): string[] {
		return [...(this.apps.get(appId)?.advertiserIds ?? [])];
	}

	createAudience(advertiserId: string, name: string, now = Date.now()): LocalAudience {
		const audience: LocalAudience = {
			id: String(this.nextAudienceId++),
			advertiserId,
			name,
			createdAt: now,
			updatedAt: now,
			deleted: false,
			members: new Set(),
			memberCount: 0,
			memberCountByType: MAPPING_ID_TYPES.map(() => 0),
		};
		this.audiences.set(audience.id, audience);
		return audience;
	}

	/** Marks an audience deleted, as if removed in Ads Manager; it stays in the store so stats still show it. */
	deleteAudience(audienceId: string): boolean {
		const audience = this.audiences.get(audienceId);
		if (!audience || audience.deleted) return false;
		audience.deleted = true;
		audience.updatedAt = Date.now();
		return true;
	}

	/** A live (not deleted) audience, or undefined. */
	liveAudience(audienceId: string): LocalAudience | undefined {
		const audience = this.audiences.get(audienceId);
		return audience && !audience.deleted ? audience : undefined;
	}

	/** Live audiences of one advertiser, newest first (the order TikTok's list uses). */
	liveAudiencesOf(advertiserId: string): LocalAudience[] {
		const found: LocalAudience[] = [];
		for (const audience of this.audiences.values()) {
			if (!audience.deleted && audience.advertiserId === advertiserId) found.push(audience);
		}
		return found.reverse();
	}

	members(audienceId: string): string[] {
		return [...(this.audiences.get(audienceId)?.members ?? [])];
	}
}
