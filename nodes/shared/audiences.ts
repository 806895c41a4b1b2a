import type { TikTokClient } from './transport/client';
import { processWide } from './processWide';
import { isTikTokApiError } from './transport/errors';
import type { AudienceSummary } from './transport/schemas';

/** TikTok keeps segment audience names up to 70 characters; longer ones are cut to 67 + "...". */
export const MAX_AUDIENCE_NAME_LENGTH = 70;
export const MAX_AUDIENCES_PER_AD_ACCOUNT = 400;
/** Below about this many matched users TikTok shows no size and the audience cannot be targeted. */
export const MIN_TARGETABLE_AUDIENCE_SIZE = 1000;

export function tiktokAudienceName(name: string): string {
	const trimmed = name.trim();
	if (trimmed.length <= MAX_AUDIENCE_NAME_LENGTH) return trimmed;
	let end = MAX_AUDIENCE_NAME_LENGTH - 3;
	// Never keep half of a character written as a surrogate pair (emoji and the like): drop it whole.
	const last = trimmed.charCodeAt(end - 1);
	if (last >= 0xd800 && last <= 0xdbff) end--;
	return trimmed.slice(0, end) + '...';
}

/** Every audience of an ad account (TikTok pages at most 100 per page; an account holds at most 400). */
export async function listAllAudiences(client: TikTokClient, advertiserId: string): Promise<AudienceSummary[]> {
	const audiences: AudienceSummary[] = [];
	for (let page = 1; page <= 50; page++) {
		const result = await client.listCustomAudiences(advertiserId, page, 100);
		audiences.push(...result.list);
		if (page >= result.page_info.total_page || result.list.length === 0) break;
	}
	return audiences;
}

export async function findAudienceByName(
	client: TikTokClient,
	advertiserId: string,
	name: string,
): Promise<AudienceSummary | undefined> {
	const wanted = tiktokAudienceName(name);
	const audiences = await listAllAudiences(client, advertiserId);
	return audiences.find((audience) => audience.name === wanted);
}

// Concurrent executions in this process that ask for the same audience wait for the first one instead of each
// creating a duplicate (TikTok allows duplicate names, so a race would leave several audiences).
const LOCKS = 'audience-locks';
const CREATED = 'audience-created';

function processMap<V>(name: string): Map<string, V> {
	return processWide(name, () => new Map<string, V>());
}

async function stillExists(client: TikTokClient, advertiserId: string, audienceId: string): Promise<boolean> {
	try {
		const [details] = await client.getCustomAudiences(advertiserId, [audienceId]);
		return details !== undefined;
	} catch (error) {
		if (isTikTokApiError(error) && error.errorClass === 'permanent') return false;
		throw error;
	}
}

/** How long a name → audience lookup is trusted without asking TikTok again (user syncs resolve it every run). */
export const RESOLVED_AUDIENCE_TTL_MS = 10 * 60_000;

interface Remembered {
	audienceId: string;
	at: number;
}

/**
 * Several n8n processes (queue mode) that must make one audience per name: a lock across processes, and the ID an
 * earlier process created (TikTok's list may not show it yet). Keys are opaque strings; the implementation digests them.
 */
export interface SharedAudienceNames {
	withLock<T>(key: string, work: () => Promise<T>): Promise<T>;
	recall(key: string): Promise<string | undefined>;
	note(key: string, audienceId: string): Promise<void>;
}

export interface EnsuredAudience {
	audienceId: string;
	name: string;
	created: boolean;
}

/**
 * The audience with this name in the ad account: reused when it exists (unless `reuseExisting` is false), else
 * created. Serialised per (ad account, name) within the process, and remembered, so racing runs make one audience.
 * With `trustRecent`, an audience resolved in the last 10 minutes is returned without listing the ad account again
 * (user syncs by name resolve on every run; TikTok's rate budget is better spent on mappings). Callers forget an
 * audience (forgetAudience) when TikTok says it is gone.
 */
export async function ensureAudience(
	client: TikTokClient,
	advertiserId: string,
	name: string,
	reuseExisting = true,
	trustRecent = false,
	shared?: SharedAudienceNames,
): Promise<EnsuredAudience> {
	const tiktokName = tiktokAudienceName(name);
	if (!reuseExisting) {
		return { audienceId: await client.createSegmentAudience(advertiserId, tiktokName), name: tiktokName, created: true };
	}
	const key = `${client.baseUrl}\u0000${advertiserId}\u0000${tiktokName}`;
	const locks = processMap<Promise<unknown>>(LOCKS);
	const created = processMap<Remembered>(CREATED);
	const remember = (audienceId: string) => created.set(key, { audienceId, at: Date.now() });
	const previous = locks.get(key) ?? Promise.resolve();
	const recentlyResolved = (): EnsuredAudience | undefined => {
		const recent = created.get(key);
		if (trustRecent && recent && Date.now() - recent.at < RESOLVED_AUDIENCE_TTL_MS) {
			return { audienceId: recent.audienceId, name: tiktokName, created: false };
		}
		return undefined;
	};
	const resolve = async (): Promise<EnsuredAudience> => {
		const recent = created.get(key);
		let existing: AudienceSummary | undefined;
		try {
			existing = await findAudienceByName(client, advertiserId, tiktokName);
		} catch (error) {
			// TikTok is briefly unavailable: an audience resolved earlier (however long ago) beats failing the run,
			// whose users would then never reach the retrying queue.
			if (trustRecent && recent && isTikTokApiError(error) && error.errorClass === 'retryable') {
				return { audienceId: recent.audienceId, name: tiktokName, created: false };
			}
			throw error;
		}
		if (existing) {
			remember(existing.audience_id);
			return { audienceId: existing.audience_id, name: tiktokName, created: false };
		}
		// Just created by this process (or, in queue mode, another) but not listed yet (TikTok lists are not always
		// immediate): reuse it only while TikTok still knows it, so an audience deleted in TikTok is not reused forever.
		const rememberedId = created.get(key)?.audienceId ?? (await shared?.recall(key));
		if (rememberedId && (await stillExists(client, advertiserId, rememberedId))) {
			remember(rememberedId);
			return { audienceId: rememberedId, name: tiktokName, created: false };
		}
		created.delete(key);
		const audienceId = await client.createSegmentAudience(advertiserId, tiktokName);
		remember(audienceId);
		await shared?.note(key, audienceId);
		return { audienceId, name: tiktokName, created: true };
	};
	// A lookup this process trusts needs no lock across processes: only a real lookup or create takes it.
	const run = previous.catch(() => undefined).then(() => recentlyResolved() ?? (shared ? shared.withLock(key, resolve) : resolve()));
	locks.set(key, run);
	try {
		return await run;
	} finally {
		if (locks.get(key) === run) locks.delete(key);
	}
}

/** Forget a remembered audience (after it was deleted). */
export function forgetAudience(baseUrl: string, advertiserId: string, audienceId: string): void {
	const created = processMap<Remembered>(CREATED);
	for (const [key, remembered] of created) {
		if (remembered.audienceId === audienceId && key.startsWith(`${baseUrl}\u0000${advertiserId}\u0000`)) created.delete(key);
	}
}

/** Forget every remembered audience (tests: the local TikTok API is reset between them). */
export function resetAudienceMemory(): void {
	processMap<Remembered>(CREATED).clear();
}

/** How a node names its target audience: picked (list or ID), or by name, created when missing. */
export interface AudienceChoice {
	advertiserId: string;
	selection: 'existing' | 'byName';
	/** The audience ID (existing) or name (byName). */
	ref: string;
}

/**
 * The audience ID both nodes send users to. By name, a lookup from the last 10 minutes is trusted (users arrive on
 * every run; TikTok's rate budget is better spent on mappings).
 */
export async function resolveAudience(client: TikTokClient, choice: AudienceChoice, shared?: SharedAudienceNames): Promise<string> {
	if (choice.selection !== 'byName') return choice.ref;
	return (await ensureAudience(client, choice.advertiserId, choice.ref, true, true, shared)).audienceId;
}

/**
 * The step after a mapping request failed: when TikTok refused it for good (the audience is gone, or belongs to
 * another account), a later run by name must look the name up again instead of reusing this ID.
 */
export function forgetAudienceAfterFailure(baseUrl: string, advertiserId: string, audienceId: string, error: unknown): void {
	if (isTikTokApiError(error) && error.errorClass === 'permanent') forgetAudience(baseUrl, advertiserId, audienceId);
}
