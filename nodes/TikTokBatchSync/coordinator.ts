import { processWide, replaceProcessWide } from '../shared/processWide';
import { MAX_USERS_PER_REQUEST } from '../shared/transport/types';
import { SyncCoordinator, type CoordinatorOptions } from './engine';

const COORDINATOR = 'batch-sync-coordinator.v1';

/** A coordinator sized for TikTok's requests (10,000 users each). */
export function newTikTokCoordinator(options: Omit<CoordinatorOptions, 'requestCapacity'> = {}): SyncCoordinator {
	return new SyncCoordinator({ ...options, requestCapacity: MAX_USERS_PER_REQUEST });
}

/** The coordinator every Batch Sync node of this n8n process shares (one per process, whatever copies n8n loads). */
export function getCoordinator(): SyncCoordinator {
	return processWide(COORDINATOR, () => newTikTokCoordinator());
}

/**
 * Tests only: make `coordinator` the process-wide one (e.g. one built with a fake clock, so a node run can cover a
 * 13 h retry horizon in milliseconds). `undefined` clears it; the next getCoordinator() makes a fresh real one.
 * Returns the coordinator it replaced. Never called by the nodes.
 */
export function setCoordinatorForTests(coordinator: SyncCoordinator | undefined): SyncCoordinator | undefined {
	return replaceProcessWide(COORDINATOR, coordinator);
}
