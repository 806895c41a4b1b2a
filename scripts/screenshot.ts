/**
 * `npx tsx scripts/screenshot.ts [--url http://127.0.0.1:5678] [--out docs/workflow-editor.png] [--keep]`
 *
 * Regenerates the README screenshot (docs/workflow-editor.png) from a running `npm run dev`: logs in as the demo
 * owner, creates one workflow holding both example workflows (examples/webhook-to-batch-sync.json above,
 * examples/audience-manual.json below, so both nodes of this package are on the canvas), opens it in the n8n editor
 * in headless Chromium and saves a PNG. The workflow is deleted afterwards unless --keep.
 *
 * Needs Chromium (Debian: `apt-get install -y chromium`; or CHROMIUM=/path/to/chrome). It is driven over the
 * DevTools protocol on a pipe (no debugging port), with every host but 127.0.0.1 unresolvable. Not part of CI.
 * Login: N8N_DEV_EMAIL / N8N_DEV_PASSWORD, default the demo owner `npm run dev` creates.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';

import { N8nClient, type WorkflowInput } from '../test/e2e/lib/client';
import { readExample, useCredential } from '../test/e2e/lib/examples';
import { REPO_DIR } from '../test/e2e/lib/runtime';

const args = process.argv.slice(2);
const argValue = (name: string) => {
	const i = args.indexOf(name);
	return i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.split('=')[1];
};
const BASE_URL = (argValue('--url') ?? `http://127.0.0.1:${process.env.N8N_DEV_PORT || 5678}`).replace(/\/+$/, '');
const OUT = resolve(REPO_DIR, argValue('--out') ?? 'docs/workflow-editor.png');
const KEEP = args.includes('--keep');
const WIDTH = 1600;
const HEIGHT = 900;
const EMAIL = process.env.N8N_DEV_EMAIL || 'demo@example.com';
const PASSWORD = process.env.N8N_DEV_PASSWORD || 'DemoPassw0rd!';

const say = (message: string) => process.stdout.write(`[screenshot] ${message}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Both examples on one canvas: the webhook one as shipped, the manual one 520 px below it. */
function showcaseWorkflow(credential: { id: string; name: string; type: string }): WorkflowInput {
	const webhook = useCredential(readExample('webhook-to-batch-sync.json'), credential);
	const manual = useCredential(readExample('audience-manual.json'), credential);
	for (const node of manual.nodes) node.position = [node.position[0], node.position[1] + 520];
	return {
		name: 'TikTok Audience Sync: examples',
		nodes: [...webhook.nodes, ...manual.nodes],
		connections: { ...webhook.connections, ...manual.connections },
		settings: { executionOrder: 'v1' },
	};
}

/** The Chrome DevTools protocol over --remote-debugging-pipe (fd 3: commands in, fd 4: answers out, NUL-separated). */
class DevTools {
	private nextId = 1;
	private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
	private buffer = '';

	constructor(
		private readonly input: Writable,
		output: Readable,
	) {
		output.on('data', (chunk: Buffer) => {
			this.buffer += chunk.toString('utf8');
			let end: number;
			while ((end = this.buffer.indexOf('\0')) >= 0) {
				const message = JSON.parse(this.buffer.slice(0, end));
				this.buffer = this.buffer.slice(end + 1);
				const waiter = message.id !== undefined ? this.pending.get(message.id) : undefined;
				if (!waiter) continue;
				this.pending.delete(message.id);
				if (message.error) waiter.reject(new Error(`${message.error.message} (${message.error.code})`));
				else waiter.resolve(message.result);
			}
		});
	}

	send<T = any>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
		const id = this.nextId++;
		this.input.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
		return new Promise<T>((resolvePromise, reject) => {
			this.pending.set(id, { resolve: resolvePromise, reject });
			setTimeout(() => {
				if (this.pending.delete(id)) reject(new Error(`DevTools ${method} timed out`));
			}, 30_000).unref();
		});
	}
}

function launchChromium(profileDir: string): { child: ChildProcess; devtools: DevTools } {
	const binary = process.env.CHROMIUM || 'chromium';
	const child = spawn(
		binary,
		[
			'--headless',
			'--no-sandbox',
			'--remote-debugging-pipe',
			`--user-data-dir=${profileDir}`,
			`--window-size=${WIDTH},${HEIGHT}`,
			'--hide-scrollbars',
			'--no-first-run',
			'--no-default-browser-check',
			'--disable-background-networking',
			'--disable-component-update',
			'--disable-default-apps',
			'--disable-sync',
			'--disable-extensions',
			'--disable-features=Translate,MediaRouter,OptimizationHints',
			'--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
			'about:blank',
		],
		{ stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
	);
	child.on('error', (error) => {
		process.stderr.write(`[screenshot] cannot start ${binary}: ${error.message} (apt-get install -y chromium, or set CHROMIUM)\n`);
		process.exit(1);
	});
	const stdio = child.stdio as unknown as [null, null, Readable, Writable, Readable];
	return { child, devtools: new DevTools(stdio[3], stdio[4]) };
}

async function main(): Promise<void> {
	const client = new N8nClient(BASE_URL);
	await client.login(EMAIL, PASSWORD);
	say(`logged in to ${BASE_URL} as ${EMAIL}`);

	const credentials = await client.rest<Array<{ id: string; name: string; type: string }>>('GET', '/rest/credentials');
	let credential = credentials.find((c) => c.type === 'tikTokBusinessApi');
	if (!credential) {
		credential = await client.rest('POST', '/rest/credentials', {
			name: 'TikTok (local dev API)',
			type: 'tikTokBusinessApi',
			data: { accessToken: 'local-demo-access-token', environment: 'custom', baseUrl: 'http://127.0.0.1:8787' },
		});
	}
	const workflow = await client.rest<{ id: string }>('POST', '/rest/workflows', {
		...showcaseWorkflow({ id: credential!.id, name: credential!.name, type: 'tikTokBusinessApi' }),
		active: false,
	});
	say(`created workflow ${workflow.id}`);

	const profileDir = mkdtempSync(join(tmpdir(), 'n8n-tiktok-screenshot-'));
	const { child, devtools } = launchChromium(profileDir);
	try {
		const { targetInfos } = await devtools.send<{ targetInfos: Array<{ targetId: string; type: string }> }>('Target.getTargets');
		const page = targetInfos.find((t) => t.type === 'page');
		if (!page) throw new Error('Chromium opened no page');
		const { sessionId } = await devtools.send<{ sessionId: string }>('Target.attachToTarget', { targetId: page.targetId, flatten: true });
		const cdp = <T = any>(method: string, params: Record<string, unknown> = {}) => devtools.send<T>(method, params, sessionId);
		const evaluate = async <T>(expression: string): Promise<T> =>
			(await cdp<{ result: { value: T } }>('Runtime.evaluate', { expression, returnByValue: true })).result.value;

		await cdp('Page.enable');
		await cdp('Network.enable');
		await cdp('Emulation.setDeviceMetricsOverride', { width: WIDTH, height: HEIGHT, deviceScaleFactor: 1, mobile: false });
		const [name, value] = client.cookie!.split(/=(.*)/s);
		await cdp('Network.setCookie', { name, value, url: BASE_URL, path: '/', httpOnly: true });
		await cdp('Page.navigate', { url: `${BASE_URL}/workflow/${workflow.id}` });

		// wait for every node on the canvas, with its icon loaded
		const nodeCount = showcaseWorkflow({ id: '', name: '', type: 'tikTokBusinessApi' }).nodes.length;
		const deadline = Date.now() + 60_000;
		for (;;) {
			const state = await evaluate<{ path: string; nodes: number; icons: number; loaded: number }>(`(() => {
				const nodes = document.querySelectorAll('[data-test-id="canvas-node"]');
				const icons = [...document.querySelectorAll('[data-test-id="canvas-node"] img')];
				return { path: location.pathname, nodes: nodes.length, icons: icons.length,
					loaded: icons.filter((i) => i.complete && i.naturalWidth > 0).length };
			})()`);
			if (state && state.nodes >= nodeCount && state.icons > 0 && state.loaded === state.icons) break;
			if (Date.now() > deadline) throw new Error(`the editor did not show the workflow: ${JSON.stringify(state)}`);
			await sleep(500);
		}
		// zoom to fit (the canvas' own button), then let the animation and fonts settle
		// then one step out, so the floating "Execute workflow" button does not cover the bottom row
		await evaluate(`document.querySelector('[data-test-id="zoom-to-fit"]')?.click()`);
		await sleep(800);
		await evaluate(`document.querySelector('[data-test-id="zoom-out-button"]')?.click()`);
		await sleep(1500);

		const { data } = await cdp<{ data: string }>('Page.captureScreenshot', { format: 'png' });
		mkdirSync(dirname(OUT), { recursive: true });
		writeFileSync(OUT, Buffer.from(data, 'base64'));
		say(`saved ${OUT}`);
	} finally {
		const exited = new Promise((r) => child.once('exit', r));
		child.kill('SIGKILL');
		await exited;
		rmSync(profileDir, { recursive: true, force: true, maxRetries: 5 });
		if (!KEEP) {
			// n8n ≥ 1.100 deletes only archived workflows
			await client.rest('POST', `/rest/workflows/${workflow.id}/archive`).catch(() => undefined);
			await client.rest('DELETE', `/rest/workflows/${workflow.id}`).catch(() => undefined);
		}
	}
}

main().then(
	() => process.exit(0),
	(error: unknown) => {
		process.stderr.write(`[screenshot] ${error instanceof Error ? error.message : String(error)}\n`);
		process.exit(1);
	},
);
