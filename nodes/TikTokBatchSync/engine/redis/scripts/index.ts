import { ADMIT } from './admit';
import { CLAIM } from './claim';
import { CUT_ALL, BUSY, PROBE } from './flush';
import { HAND_BACK, RENEW } from './lease';
import { OUTCOMES } from './outcomes';
import { SETTLE } from './settle';
import { SPLIT } from './split';
import { IMPORT, NOT_SYNCED, WAIT } from './counts';

/** Every script of the Redis store, by the command name ioredis defines for it (one key: the scope's base). */
export const SCRIPTS = {
	tiktokSyncAdmit: ADMIT,
	tiktokSyncClaim: CLAIM,
	tiktokSyncSplit: SPLIT,
	tiktokSyncRenew: RENEW,
	tiktokSyncSettle: SETTLE,
	tiktokSyncHandBack: HAND_BACK,
	tiktokSyncCutAll: CUT_ALL,
	tiktokSyncBusy: BUSY,
	tiktokSyncProbe: PROBE,
	tiktokSyncOutcomes: OUTCOMES,
	tiktokSyncNotSynced: NOT_SYNCED,
	tiktokSyncImport: IMPORT,
	tiktokSyncWait: WAIT,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
