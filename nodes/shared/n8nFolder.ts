import { join } from 'node:path';

/**
 * This package's folder inside n8n's data folder, for state kept on disk in regular n8n (mirror memories, Batch Sync
 * journals). n8n's data folder is `<N8N_USER_FOLDER>/.n8n`, where N8N_USER_FOLDER defaults to the home folder
 * (@n8n/config's getN8nFolder, the same in n8n 1.x and 2.x): `~/.n8n`, the volume n8n's Docker image mounts.
 */
export function packageDataFolder(env: NodeJS.ProcessEnv = process.env): string {
	const home = env.N8N_USER_FOLDER ?? env[process.platform === 'win32' ? 'USERPROFILE' : 'HOME'] ?? process.cwd();
	return join(home, '.n8n', 'tiktok-audience-sync');
}
