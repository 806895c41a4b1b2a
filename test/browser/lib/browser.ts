/**
 * Debian's Chromium (or CHROMIUM=/path), headless, driven by playwright-core, with a fresh profile and nothing
 * reaching past 127.0.0.1: the flags stop Chromium's own calls home, and every other host is unresolvable.
 * The console of every page (popups included) is recorded, so a failing step can leave it behind with a screenshot.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { REPO_DIR } from '../../e2e/lib/runtime';

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_FLAGS = [
	'--no-sandbox',
	'--disable-gpu',
	'--disable-quic',
	'--no-first-run',
	'--disable-background-networking',
	'--disable-component-update',
	'--disable-sync',
	'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

/** Where failures leave their screenshot and console log (gitignored). */
export const ARTIFACTS_DIR = join(REPO_DIR, 'e2e-artifacts', 'browser');

export interface BrowserSession {
	context: BrowserContext;
	page: Page;
	/** Every console message and page error so far, oldest first, from every page of the session. */
	consoleLog: string[];
	/** Saves a screenshot of every open page and the console log; returns the files written. */
	saveFailureArtifacts(label: string): Promise<string[]>;
	close(): Promise<void>;
}

export async function launchBrowser(opts: { width?: number; height?: number } = {}): Promise<BrowserSession> {
	if (!existsSync(CHROMIUM)) {
		throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM=/path/to/chromium)`);
	}
	const profileDir = mkdtempSync(join(tmpdir(), 'n8n-tiktok-browser-'));
	const context = await chromium.launchPersistentContext(profileDir, {
		executablePath: CHROMIUM,
		headless: true,
		args: CHROMIUM_FLAGS,
		viewport: { width: opts.width ?? 1440, height: opts.height ?? 900 },
		deviceScaleFactor: 1,
		locale: 'en-US',
		timezoneId: 'UTC',
	});
	const consoleLog: string[] = [];
	const started = Date.now();
	const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`;
	const watch = (page: Page) => {
		page.on('console', (message) => consoleLog.push(`${stamp()} [${message.type()}] ${page.url()}: ${message.text()}`));
		page.on('pageerror', (error) => consoleLog.push(`${stamp()} [pageerror] ${page.url()}: ${error.stack ?? error.message}`));
		page.on('popup', (popup) => consoleLog.push(`${stamp()} [popup] opened ${popup.url()}`));
	};
	for (const existing of context.pages()) watch(existing);
	context.on('page', watch);
	const page = context.pages()[0] ?? (await context.newPage());

	return {
		context,
		page,
		consoleLog,
		async saveFailureArtifacts(label) {
			mkdirSync(ARTIFACTS_DIR, { recursive: true });
			const base = join(ARTIFACTS_DIR, label.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase());
			const files: string[] = [];
			const pages = context.pages();
			for (const [index, open] of pages.entries()) {
				const file = `${base}${pages.length > 1 ? `-page${index + 1}` : ''}.png`;
				try {
					await open.screenshot({ path: file, fullPage: false, timeout: 10_000 });
					files.push(file);
				} catch (error) {
					consoleLog.push(`(no screenshot of ${open.url()}: ${(error as Error).message})`);
				}
			}
			writeFileSync(`${base}.console.log`, consoleLog.join('\n') + '\n');
			files.push(`${base}.console.log`);
			return files;
		},
		async close() {
			await context.close().catch(() => undefined);
			rmSync(profileDir, { recursive: true, force: true, maxRetries: 5 });
		},
	};
}

/** Where the suite writes the README's pictures: docs/ with BROWSER_PICTURES=docs, else e2e-artifacts/pictures. */
export const PICTURES_DIR = process.env.BROWSER_PICTURES === 'docs' ? join(REPO_DIR, 'docs') : join(REPO_DIR, 'e2e-artifacts', 'pictures');

/**
 * Ordered steps of one user path sharing one page: a failed step leaves a screenshot of every open page and the
 * console log under e2e-artifacts/browser/ (paths printed), and the steps after it fail at once instead of timing out.
 */
export function stepper(session: () => BrowserSession | undefined) {
	let failed: string | undefined;
	return (title: string, body: () => Promise<void>, timeoutMs = 90_000) => {
		it(
			title,
			async () => {
				if (failed) throw new Error(`not run: the step "${failed}" failed before it`);
				try {
					await body();
				} catch (error) {
					failed = title;
					const current = session();
					if (current) {
						const files = await current.saveFailureArtifacts(title).catch((e: unknown) => [`(artifacts failed: ${String(e)})`]);
						process.stderr.write(`[browser] step "${title}" failed; kept:\n${files.map((f) => `  ${f}`).join('\n')}\n`);
					}
					throw error;
				}
			},
			timeoutMs,
		);
	};
}
