/**
 * The user's path through n8n's editor, in headless Chromium, against the run's n8n (test/e2e/lib/global-setup.ts)
 * and the local TikTok API: log in, create a workflow, find both TikTok nodes in the nodes panel, connect TikTok
 * with OAuth2 (the local portal's consent page in the popup), fill the TikTok Audience node from its lists, run it
 * on three customers (one with an invalid email), add TikTok Batch Sync with an IF on `errored > 0`, run again.
 * Selectors are n8n's own `data-test-id`s; every wait is on a condition. The README's pictures are taken on the way
 * (BROWSER_PICTURES=docs writes them into docs/, otherwise into e2e-artifacts/pictures/).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { Locator, Page } from 'playwright-core';

import type { N8nClient } from '../e2e/lib/client';
import { useSharedN8n, type SharedN8n } from '../e2e/lib/shared';
import { DEMO, startTikTok, type TikTokLocal } from '../e2e/lib/tiktok';
import { ARTIFACTS_DIR, launchBrowser, PICTURES_DIR, stepper, type BrowserSession } from './lib/browser';

const AUDIENCE_NAME = 'n8n browser: customers';
const AUDIENCE_NODE = 'Add users to an audience';
const CODE_NODE = 'Code in JavaScript';
const BATCH_NODE = 'TikTok Batch Sync';
const CUSTOMERS = [
	"{ json: { name: 'Jane', email: 'Jane.Doe@example.com', phone: '+1 415 555 0123' } },",
	"{ json: { name: 'John', email: 'john@example.com', phone: '' } },",
	"{ json: { name: 'Nobody', email: 'not-an-email', phone: null } },",
];

let shared: SharedN8n;
let tiktok: TikTokLocal;
let session: BrowserSession | undefined;
let page: Page;
let workflowId: string;

const step = stepper(() => session);
const ndv = () => page.locator('[data-test-id=ndv]');
const canvasNode = (name: string) => page.locator(`[data-test-id=canvas-node][data-node-name="${name}"]`);
const dropdownItem = (text: string | RegExp) => page.locator('.el-select-dropdown__item:visible').filter({ hasText: text });
const creatorItem = (name: string) =>
	page
		.locator('[data-test-id=node-creator-node-item], [data-test-id=node-creator-action-item]')
		.filter({ has: page.locator('[data-test-id=node-creator-item-name]', { hasText: new RegExp(`^${name}$`) }) })
		.first();
const creatorAction = (text: string) => page.locator('[data-test-id=node-creator] [data-test-id=item-iterator-item]').filter({ hasText: text });
const outputPanel = () => ndv().locator('[data-test-id=output-panel]');

/** A README picture (PICTURES_DIR), or with `artifact` one kept only under e2e-artifacts/pictures. */
async function picture(name: string, target: Page | Locator = page, opts: { artifact?: boolean } = {}): Promise<void> {
	const dir = opts.artifact ? join(ARTIFACTS_DIR, '..', 'pictures') : PICTURES_DIR;
	mkdirSync(dir, { recursive: true });
	await target.screenshot({ path: join(dir, name) });
}

async function closeNdv(): Promise<void> {
	await ndv().locator('[data-test-id=ndv-close-button]').click();
	await ndv().waitFor({ state: 'hidden' });
}

async function executeWorkflow(lastNode: string): Promise<void> {
	// lastNode has not run before (each run here ends at a new node), so its success mark is this run's
	await page.locator('[data-test-id=execute-workflow-button]').last().click();
	await canvasNode(lastNode).locator('[data-test-id=canvas-node-status-success]').waitFor({ timeout: 60_000 });
}

/** Pick the ad account from its list and an audience by name (create if missing), as a user fills the node. */
async function chooseAdAccountAndAudience(nodeName: string): Promise<void> {
	await ndv().locator('[data-test-id=resource-locator-advertiserId] [data-test-id=rlc-input]').click();
	const accounts = page.locator('[data-test-id=rlc-item]');
	await accounts.first().waitFor();
	const listed = (await accounts.allInnerTexts()).map((text) => text.trim()).sort();
	expect(listed).toEqual(DEMO.advertisers.map((a) => `${a.name} (${a.id})`).sort());
	await accounts.filter({ hasText: DEMO.advertisers[0].name }).click();
	await ndv().locator('[data-test-id=parameter-input-audienceSelection]').click();
	await dropdownItem('By Name (Create if Missing)').click();
	await ndv().locator('[data-test-id=parameter-input-audienceName] input').fill(AUDIENCE_NAME);
	await waitFor(`${nodeName} saved with the ad account and audience`, async () => {
		const parameters = await savedNode(shared.client, nodeName);
		const advertiser = parameters?.advertiserId as { value?: string } | undefined;
		return parameters?.audienceName === AUDIENCE_NAME && advertiser?.value === DEMO.advertisers[0].id ? true : undefined;
	});
}

/** The workflow as n8n saved it (the editor autosaves): what a run uses once the panel is closed. */
async function savedNode(client: N8nClient, name: string): Promise<Record<string, unknown> | undefined> {
	const saved = await client.rest<{ nodes: Array<{ name: string; parameters: Record<string, unknown> }> }>('GET', `/rest/workflows/${workflowId}`);
	return saved.nodes.find((node) => node.name === name)?.parameters;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await probe();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await page.waitForTimeout(100); // a poll interval, not a wait for something to happen
	}
}

/** The canvas has stopped moving (zoom to fit animates): two polls in a row see the same node positions. */
async function canvasSettled(): Promise<void> {
	let last = '';
	await waitFor('the canvas to settle', async () => {
		const now = JSON.stringify(await page.locator('[data-test-id=canvas-node]').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON())));
		const same = now === last;
		last = now;
		return same ? true : undefined;
	});
}

describe('the user path through n8n’s editor (Chromium)', () => {
	beforeAll(async () => {
		shared = useSharedN8n();
		tiktok = await startTikTok();
		session = await launchBrowser({ width: 1600, height: 1000 });
		page = session.page;
		page.setDefaultTimeout(20_000);
	});

	afterAll(async () => {
		await session?.close();
		await tiktok?.close();
	});

	step('logs in and creates a workflow', async () => {
		const { owner, baseUrl } = shared.state;
		await page.goto(`${baseUrl}/signin`);
		await page.locator('[data-test-id=emailOrLdapLoginId] input').fill(owner.email);
		await page.locator('[data-test-id=password] input').fill(owner.password);
		await page.locator('[data-test-id=form-submit-button]').click();
		// a fresh instance offers "Build a workflow"; one with workflows the list's add button
		await page.locator('[data-test-id=new-workflow-card], [data-test-id=add-resource-workflow]').first().click();
		await page.waitForURL(/\/workflow\/[^/?]+/);
		workflowId = new URL(page.url()).pathname.split('/')[2];
		await page.locator('[data-test-id=canvas-add-button]').waitFor();
	});

	step('the nodes panel finds both TikTok nodes, with their icons, and adds TikTok Audience', async () => {
		await page.locator('[data-test-id=canvas-add-button]').click();
		await page.locator('[data-test-id=node-creator]').waitFor();
		await page.keyboard.insertText('TikTok');
		for (const name of ['TikTok Audience', 'TikTok Batch Sync']) {
			const icon = creatorItem(name).locator('img').first();
			await icon.waitFor();
			await waitFor(`the ${name} icon to load`, async () =>
				(await icon.evaluate((img) => {
					const image = img as unknown as { complete: boolean; naturalWidth: number };
					return image.complete && image.naturalWidth > 0;
				}))
					? true
					: undefined,
			);
		}
		await creatorItem('TikTok Audience').click();
		await creatorAction('Add users to an audience').click();
		await ndv().waitFor();
	});

	step('creates a "TikTok for Business OAuth2 API" credential and connects through TikTok’s consent page', async () => {
		await ndv().locator('[data-test-id=node-credentials-empty-state], [data-test-id=node-credentials-select]').first().click();
		const modal = page.locator('[data-test-id=editCredential-modal]');
		await modal.waitFor();
		await expect(modal.innerText()).resolves.toContain('TikTok for Business OAuth2 API');
		await expect(modal.locator('[data-test-id=clientId]').innerText()).resolves.toContain('Client ID');
		await expect(modal.locator('[data-test-id=clientSecret]').innerText()).resolves.toContain('Client Secret');
		await modal.locator('[data-test-id=clientId] input').fill(DEMO.appId);
		await modal.locator('[data-test-id=clientSecret] input').fill(DEMO.secret);
		await modal.locator('[data-test-id=parameter-input-environment]').click();
		await dropdownItem('Custom Base URL').click();
		const connect = modal.locator('[data-test-id=quick-connect-button]');
		// Base URL is required with Custom: no Connect until it is filled in
		await modal.locator('[data-test-id=baseUrl] input').waitFor();
		expect(await connect.isVisible()).toBe(false);
		await modal.locator('[data-test-id=baseUrl] input').fill(tiktok.url);
		await connect.waitFor();

		const popupOpened = page.context().waitForEvent('page');
		await connect.click();
		const popup = await popupOpened;
		const authorize = popup.locator('#authorize');
		await authorize.waitFor();
		expect(new URL(popup.url()).pathname).toBe('/portal/auth');
		const accounts = await popup.locator('#advertisers li').allInnerTexts();
		expect(accounts).toEqual(DEMO.advertisers.map((a) => expect.stringContaining(a.name)));
		await picture('tiktok-consent.png', popup, { artifact: true });
		const popupClosed = popup.waitForEvent('close');
		await authorize.click();
		await popupClosed;
		// n8n closes the dialog once connected; opening the credential again shows it connected
		await modal.waitFor({ state: 'hidden' });
		await ndv().locator('[data-test-id=node-credentials-slot] [data-test-id=credential-edit-button]').click();
		await modal.locator('[data-test-id=oauth-connect-success-banner]').waitFor();
		await expect(modal.locator('[data-test-id=oauth-connect-success-banner]').innerText()).resolves.toContain('Account connected');
		await picture('credential-connected.png', modal);
		await modal.locator('.el-dialog__headerbtn').first().click();
		await modal.waitFor({ state: 'hidden' });
	});

	step('fills TikTok Audience from its lists: the ad account, the audience by name, email and phone to match', async () => {
		await chooseAdAccountAndAudience(AUDIENCE_NODE);
		await ndv().locator('[data-test-id=parameter-input-matchFields]').click();
		await dropdownItem(/^Phone$/).click();
		await ndv().locator('[data-test-id=input-label]').filter({ hasText: 'Audience Name' }).click();
		await ndv().locator('[data-test-id=parameter-input-phoneValue]').waitFor();
		await waitFor('TikTok Audience saved with email and phone to match', async () =>
			JSON.stringify((await savedNode(shared.client, AUDIENCE_NODE))?.matchFields) === '["email","phone"]' ? true : undefined,
		);
		await closeNdv();
		// the canvas subtitle is worded as Batch Sync's
		await expect(canvasNode(AUDIENCE_NODE).innerText()).resolves.toContain('Add users');
	});

	step('puts three customers (one with an invalid email) before it with a Code node', async () => {
		const edge = await page.locator('[data-test-id=edge] path').first().boundingBox();
		if (!edge) throw new Error('no connection between the trigger and TikTok Audience on the canvas');
		await page.mouse.move(edge.x + edge.width / 2, edge.y + edge.height / 2);
		await page.locator('[data-test-id=add-connection-button]').first().click();
		await page.locator('[data-test-id=node-creator]').waitFor();
		await page.keyboard.insertText('Code');
		await creatorItem('Code').click();
		await creatorAction('Code in JavaScript').click();
		await ndv().waitFor();
		await ndv().locator('[data-test-id=parameter-input-jsCode] .cm-content').click();
		await page.keyboard.press('Control+A');
		await page.keyboard.press('Delete');
		await page.keyboard.insertText(['return [', ...CUSTOMERS, '];'].join('\n'));
		await waitFor('the Code node saved with the customers', async () =>
			String((await savedNode(shared.client, CODE_NODE))?.jsCode ?? '').includes('not-an-email') ? true : undefined,
		);
		await closeNdv();
	});

	step('runs: the output panel shows synced and not_synced with its reason, on each customer', async () => {
		await executeWorkflow(AUDIENCE_NODE);
		await canvasNode(AUDIENCE_NODE).dblclick();
		await ndv().waitFor();
		await outputPanel().locator('[data-test-id=radio-button-table]').click();
		const table = outputPanel().locator('[data-test-id=ndv-data-container]');
		const rows = table.locator('tbody tr');
		await waitFor('three rows in the output table', async () => ((await rows.count()) === 3 ? true : undefined));
		const text = await rows.allInnerTexts();
		expect(text[0]).toMatch(/Jane[\s\S]*status\s*:\s*synced/);
		expect(text[1]).toMatch(/John[\s\S]*status\s*:\s*synced/);
		expect(text[2]).toMatch(/Nobody[\s\S]*status\s*:\s*not_synced[\s\S]*reason\s*:\s*email is not a valid address/);
		await expect(outputPanel().locator('[data-test-id=run-data-hints]').innerText()).resolves.toContain('1 of 3 users had no usable identifier');
		await picture('output-statuses.png');
		await closeNdv();
		const audience = tiktok.stats().audiences.find((a) => a.name === AUDIENCE_NAME);
		expect(audience?.memberCount).toBe(3); // Jane's email and phone, John's email
	});

	step('adds TikTok Batch Sync after the customers: two outputs, Metrics and Users', async () => {
		await canvasNode(CODE_NODE).click();
		await page.locator('[data-test-id=node-creator-plus-button]').click();
		await page.locator('[data-test-id=node-creator]').waitFor();
		await page.keyboard.insertText('TikTok');
		await creatorItem('TikTok Batch Sync').click();
		await expect(creatorAction('Flush & report').count()).resolves.toBe(1);
		await creatorAction('Sync users to an audience').click();
		await ndv().waitFor();
		await chooseAdAccountAndAudience(BATCH_NODE);
		await closeNdv();
		const outputs = page.locator(`[data-test-id=canvas-node-output-handle][data-node-name="${BATCH_NODE}"]`);
		await expect(outputs.allInnerTexts()).resolves.toEqual(['Metrics', 'Users']);
		await expect(canvasNode(BATCH_NODE).innerText()).resolves.toContain('Add users');
	});

	step('runs: the Metrics item shows entered and synced', async () => {
		await executeWorkflow(BATCH_NODE);
		await canvasNode(BATCH_NODE).dblclick();
		await ndv().waitFor();
		await outputPanel().locator('[data-test-id=radio-button-json]').click();
		const json = outputPanel().locator('[data-test-id=ndv-data-container]');
		await waitFor('the Metrics item', async () =>
			(await json.innerText()).replace(/\s+/g, '').includes('"entered":3,"proceeded":3,"synced":2,"notSynced":1') ? true : undefined,
		);
		await picture('batch-sync-metrics.png');
		await closeNdv();
	});

	step('an IF on errored > 0 after Metrics sends the item to its "false" branch', async () => {
		await page.locator('[data-test-id=zoom-to-fit]').click();
		await page
			.locator(`[data-test-id=canvas-node-output-handle][data-node-name="${BATCH_NODE}"][data-handleid="outputs/main/0"] [data-test-id=canvas-handle-plus]`)
			.click();
		await page.locator('[data-test-id=node-creator]').waitFor();
		await page.keyboard.insertText('If');
		await creatorItem('If').click();
		await ndv().waitFor();
		await ndv().locator('[data-test-id=filter-condition-left]').click();
		await page.keyboard.insertText('{{ $json.errored }}');
		await ndv().locator('[data-test-id=filter-operator-select]').click();
		await page.locator('[role=menuitem]:visible').filter({ hasText: /^Number/ }).hover();
		await page.locator('[role=menuitem]:visible').filter({ hasText: /^is greater than$/ }).click();
		await ndv().locator('[data-test-id=filter-condition-right]').click();
		await page.keyboard.insertText('0');
		await ndv().getByText('Conditions', { exact: true }).click();
		// with the last run's metrics as input, the editor already shows the condition resolving to false
		await ndv().locator('[data-test-id=filter-conditions] [data-icon=circle-x]').waitFor();
		// the editor saves edits after a pause; closing the panel before that drops them
		await waitFor('the IF node saved with its condition', async () => {
			const conditions = JSON.stringify((await savedNode(shared.client, 'If'))?.conditions ?? {});
			return conditions.includes('$json.errored') && conditions.includes('"gt"') && conditions.includes('"rightValue":0') ? true : undefined;
		});
		await closeNdv();

		await executeWorkflow('If');
		await canvasNode('If').dblclick();
		await ndv().waitFor();
		await expect(outputPanel().locator('[data-test-id=tab-1]').innerText()).resolves.toMatch(/False Branch \(1 item\)/);
		await expect(outputPanel().locator('[data-test-id=tab-0]').innerText()).resolves.not.toMatch(/item/);
		await closeNdv();
		await page.locator('[data-test-id=zoom-to-fit]').click();
		await canvasSettled();
		await picture('workflow-editor.png');
	});
});
