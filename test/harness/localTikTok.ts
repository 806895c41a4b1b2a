import { resetAudienceMemory } from '../../nodes/shared/audiences';
import { resetPacers } from '../../nodes/shared/transport/rateLimit';
import { getCoordinator } from '../../nodes/TikTokBatchSync/coordinator';
import { rmSync } from 'node:fs';

import { journalFolder, resetJournalMemory } from '../../nodes/TikTokBatchSync/journalStore';
import { forgetReusedSenders } from '../../nodes/TikTokBatchSync/sender';
import { startTikTokLocal, type TikTokLocal } from '../tiktok-local/server';

/**
 * One local TikTok API for a test file, and a clean slate before each test: the API back to its seed, and the
 * process-wide state of the nodes (Batch Sync coordinator and scopes, rate limiters, remembered audiences) forgotten.
 * `assign` receives the started API (jest hooks run later than the file's top-level code).
 */
export function useLocalTikTok(assign: (local: TikTokLocal) => void): void {
	let local: TikTokLocal | undefined;
	beforeAll(async () => {
		local = await startTikTokLocal();
		assign(local);
	});
	afterAll(async () => {
		getCoordinator().reset();
		await local?.close();
	});
	beforeEach(() => {
		getCoordinator().reset();
		local?.reset();
		resetPacers();
		resetAudienceMemory();
		resetJournalMemory();
		forgetReusedSenders();
		// A new n8n data folder: no journal file of an earlier test is taken back.
		rmSync(journalFolder(), { recursive: true, force: true });
	});
}
