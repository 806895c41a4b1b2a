import { join } from 'node:path';

import { digestHex } from '../digest';
import { packageDataFolder } from '../n8nFolder';
import type { RedisHandle } from '../redis/client';
import { withRedisLock } from '../redis/lock';
import { FileMirrorStorage } from './fileStorage';
import { withFileLock } from './fileLock';
import { RedisMirrorStorage } from './redisStorage';
import type { MirrorStorage } from './storage';

/**
 * Where mirrors keep their memory, following the package's one choice of state (sharedState.ts): on disk in n8n's
 * user folder in regular n8n, in Redis in queue mode (workers may run on other machines; Redis is what they share).
 */

/** A folder of its own for the memory, instead of the one under n8n's user folder. */
export const MIRROR_FOLDER_SETTING = 'N8N_TIKTOK_SYNC_MIRROR_FOLDER';

/** One audience of one ad account, reached through one TikTok API (production, sandbox, or a stand-in). */
export interface MirrorIdentity {
	baseUrl: string;
	advertiserId: string;
	audienceId: string;
}

/** How long a second run of the same audience waits for the first before it gives up. */
export const MIRROR_LOCK_WAIT_MS = 10 * 60_000;

export interface MirrorPlace {
	readonly kind: 'disk' | 'redis';
	/** For the log and the README: the folder, or the Redis address and key prefix. */
	readonly where: string;
	storageFor(mirror: MirrorIdentity): MirrorStorage;
	/** Runs `work` while no other run of this audience does (in any process sharing the place). */
	withLock<T>(mirror: MirrorIdentity, work: (signal: AbortSignal) => Promise<T>): Promise<T>;
}

/** The mirror's name in the store: a digest (IDs are not secret, but the name stays short and uniform). */
export function mirrorNameOf(mirror: MirrorIdentity): string {
	return digestHex('sha256', `${mirror.baseUrl}\u0000${mirror.advertiserId}\u0000${mirror.audienceId}`).slice(0, 24);
}

function aboutOf(mirror: MirrorIdentity): Record<string, string> {
	return { baseUrl: mirror.baseUrl, advertiserId: mirror.advertiserId, audienceId: mirror.audienceId };
}

function describeMirror(mirror: MirrorIdentity): string {
	return `the mirror of audience ${mirror.audienceId} (ad account ${mirror.advertiserId})`;
}

/** The folder for the memory: N8N_TIKTOK_SYNC_MIRROR_FOLDER, else `mirrors` in the package's folder of n8n's data folder. */
export function mirrorFolder(env: NodeJS.ProcessEnv = process.env): string {
	const own = env[MIRROR_FOLDER_SETTING]?.trim();
	if (own) return own;
	return join(packageDataFolder(env), 'mirrors');
}

export class DiskMirrorPlace implements MirrorPlace {
	readonly kind = 'disk';

	constructor(readonly root: string = mirrorFolder()) {}

	get where(): string {
		return this.root;
	}

	storageFor(mirror: MirrorIdentity): MirrorStorage {
		return new FileMirrorStorage(join(this.root, mirrorNameOf(mirror)), aboutOf(mirror));
	}

	async withLock<T>(mirror: MirrorIdentity, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
		return await withFileLock(join(this.root, `${mirrorNameOf(mirror)}.lock`), work, {
			waitMs: MIRROR_LOCK_WAIT_MS,
			what: describeMirror(mirror),
		});
	}
}

export class RedisMirrorPlace implements MirrorPlace {
	readonly kind = 'redis';

	constructor(private readonly redis: RedisHandle) {}

	get where(): string {
		return `Redis at ${this.redis.target.address}, keys under ${this.redis.target.keyPrefix}:`;
	}

	storageFor(mirror: MirrorIdentity): MirrorStorage {
		return new RedisMirrorStorage(this.redis, mirrorNameOf(mirror), aboutOf(mirror));
	}

	async withLock<T>(mirror: MirrorIdentity, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
		return await withRedisLock(this.redis, `mirror:${mirrorNameOf(mirror)}`, work, {
			waitMs: MIRROR_LOCK_WAIT_MS,
			what: describeMirror(mirror),
		});
	}
}
