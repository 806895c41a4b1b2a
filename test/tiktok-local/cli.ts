/**
 * `npm run tiktok:local`: the local TikTok API on 127.0.0.1:${TIKTOK_LOCAL_PORT:-8787}, for manual n8n runs, e2e tests
 * and the benchmark. Environment: TIKTOK_LOCAL_PORT, TIKTOK_LOCAL_TOKEN_SHAPE (flat|wrapped),
 * TIKTOK_LOCAL_RATE_LIMIT (requests per second per app, default 50), TIKTOK_LOCAL_BENCH=1 (counts only, no hash checks),
 * TIKTOK_LOCAL_RECORD=1 (keep a request log for GET /__local/requests).
 */
import { DEMO, OTHER, startTikTokLocal } from './server';

function parsePort(raw: string | undefined): number {
	if (raw === undefined || raw === '') return 8787;
	const port = Number(raw);
	if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`TIKTOK_LOCAL_PORT must be a port number, got "${raw}"`);
	return port;
}

function parseShape(raw: string | undefined): 'flat' | 'wrapped' {
	if (raw === undefined || raw === '' || raw === 'flat') return 'flat';
	if (raw === 'wrapped') return 'wrapped';
	throw new Error(`TIKTOK_LOCAL_TOKEN_SHAPE must be "flat" or "wrapped", got "${raw}"`);
}

async function main(): Promise<void> {
	const rateLimit = process.env.TIKTOK_LOCAL_RATE_LIMIT;
	const local = await startTikTokLocal({
		port: parsePort(process.env.TIKTOK_LOCAL_PORT),
		tokenResponseShape: parseShape(process.env.TIKTOK_LOCAL_TOKEN_SHAPE),
		benchMode: process.env.TIKTOK_LOCAL_BENCH === '1' || process.env.TIKTOK_LOCAL_BENCH === 'true',
		rateLimitPerSecond: rateLimit ? Number(rateLimit) : undefined,
		recordRequests: process.env.TIKTOK_LOCAL_RECORD === '1' || process.env.TIKTOK_LOCAL_RECORD === 'true',
	});
	const config = local.config;
	const lines = [
		`Local TikTok Marketing API listening on ${local.url}`,
		`  API base URL:   ${local.apiUrl}`,
		`  Auth URL:       ${local.authUrl}`,
		`  Token URL:      ${local.tokenUrl}`,
		`  Demo app:       app_id ${DEMO.appId}  secret ${DEMO.secret}`,
		`  Demo token:     ${DEMO.accessToken}`,
		...DEMO.advertisers.map((advertiser) => `  Advertiser:     ${advertiser.id}  ${advertiser.name}`),
		`  Other app:      app_id ${OTHER.appId}  secret ${OTHER.secret}  token ${OTHER.accessToken}  advertiser ${OTHER.advertisers[0].id}`,
		`  Config:         rate limit ${config.rateLimitPerSecond}/s, token shape ${config.tokenResponseShape}, bench mode ${config.benchMode ? 'on' : 'off'}, request log ${config.recordRequests ? 'on' : 'off'}`,
		`  Control:        ${local.url}/__local/stats (see test/tiktok-local/server.ts for all control routes)`,
	];
	process.stdout.write(`${lines.join('\n')}\n`);

	let stopping = false;
	const stop = (signal: string): void => {
		if (stopping) return;
		stopping = true;
		process.stdout.write(`${signal}: stopping the local TikTok API\n`);
		local.close().then(
			() => process.exit(0),
			(error: unknown) => {
				process.stderr.write(`Error while stopping: ${String(error)}\n`);
				process.exit(1);
			},
		);
	};
	process.on('SIGINT', () => stop('SIGINT'));
	process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
	process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
	process.exit(1);
});
