import { NodeOperationError, type IExecuteFunctions } from 'n8n-workflow';

import { DiskMirrorPlace, MirrorDamagedError, RedisMirrorPlace, type MirrorIdentity, type MirrorPlace } from '../../../shared/mirror';
import { LockWaitTimeoutError } from '../../../shared/redis/lock';
import { sharedStateError, type SharedState } from '../../../shared/sharedState';

/** Where this process's mirrors keep their memory: Redis in Redis mode (queue mode), else n8n's user folder. */
export function mirrorPlaceFor(state: SharedState): MirrorPlace {
	if (state.redis) return new RedisMirrorPlace(state.redis);
	return new DiskMirrorPlace();
}

/** A failure of the mirror's memory or lock as the node reports it: what happened and what to do. */
export function mirrorMemoryError(context: IExecuteFunctions, state: SharedState, place: MirrorPlace, error: unknown): Error {
	if (error instanceof LockWaitTimeoutError || (error as Error)?.name === 'LockWaitTimeoutError') {
		return new NodeOperationError(context.getNode(), (error as Error).message, {
			description: 'Two mirrors of one audience never run at the same time: this one waited for the other and gave up.',
		});
	}
	if (error instanceof MirrorDamagedError) {
		return new NodeOperationError(context.getNode(), `The memory of this mirror is damaged: ${error.message}`, {
			description: `Nothing was sent. Use "Forget Mirror Memory" for this audience to start over (the next mirror adds everyone again and removes nothing), or restore the memory from a backup. Memory: ${place.where}`,
		});
	}
	if (place.kind === 'redis') return sharedStateError(context, state, error);
	const code = (error as NodeJS.ErrnoException)?.code;
	if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
		return new NodeOperationError(context.getNode(), `The mirror's memory in ${place.where} cannot be written or read (${code}): ${(error as Error).message}`, {
			description: `The TikTok Audience node keeps what a mirror sent in n8n's user folder. Give n8n's user write access to it, free some disk space, or set N8N_TIKTOK_SYNC_MIRROR_FOLDER to another folder.`,
		});
	}
	if (error instanceof NodeOperationError) return error;
	return new NodeOperationError(context.getNode(), error instanceof Error ? error : String(error));
}

/** Forgets the memory of one audience's mirror (under its lock). */
export async function forgetMirror(place: MirrorPlace, mirror: MirrorIdentity): Promise<void> {
	await place.withLock(mirror, async () => await place.storageFor(mirror).forget());
}
