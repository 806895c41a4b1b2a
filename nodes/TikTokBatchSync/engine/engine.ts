import type { Counters } from './counters';
import type { SyncSettings } from './settings';
import type { RequestPacer, SendMapping, SubmitRequest, SubmitResult } from './types';

/**
 * What the nodes ask of a Batch Sync engine, whichever keeps the state: the in-process SyncCoordinator (regular n8n,
 * journaled in a file per scope) or the RedisSyncCoordinator (n8n queue mode: one state for every process).
 */
export interface BatchSyncEngine {
	readonly kind: 'in-process' | 'redis';
	submit(request: SubmitRequest): Promise<SubmitResult>;
	flush(scope: string, options?: { send?: SendMapping; pacer?: RequestPacer; settings?: Partial<SyncSettings> }): Promise<void>;
	report(scope: string): Counters | Promise<Counters>;
	recordNotSynced(scope: string, reasons: ReadonlyArray<string>): void | Promise<void>;
	/** Whether this process has state or a dispatcher for the scope. */
	knows(scope: string): boolean;
	/** Forgets this process's part (tests; in Redis mode the shared state stays). */
	reset(): void;
}
