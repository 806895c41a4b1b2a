/**
 * Hostile input: 10,000 generated records (missing, null, numeric, object and array fields, 1 MB strings, Unicode
 * and right-to-left text, control and invisible characters, invalid emails, phones and device IDs, hashed and raw
 * values mixed, duplicates) through both nodes as real n8n workflows. No crash, no unhandled rejection; every record
 * comes out synced or not synced with the specific reason; TikTok receives each distinct user once and ends up with
 * exactly the expected members.
 */
import type { IDataObject } from 'n8n-workflow';

import { type TikTokLocal } from '../tiktok-local/server';
import { addParameters, audienceNode, batchNode, createAudience, expectInvariant, syncParameters } from '../harness/fixtures';
import { runOne, watchUnhandled, syncResults } from './helpers';
import { expectedAudience, HOSTILE_CATEGORY_COUNT, hostileRecords, type HostileRecord } from './hostileRecords';
import { useLocalTikTok } from '../harness/localTikTok';

const ALL_FIELDS = ['email', 'phone', 'idfa', 'aaid'];
const RECORDS = hostileRecords(10_000);
const EXPECTED = expectedAudience(RECORDS);

let local: TikTokLocal;
let unhandled: ReturnType<typeof watchUnhandled>;

/** A short, printable description of a value (some are 1 MB long). */
function brief(value: unknown): string {
	const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
	return text.length > 80 ? `${text.slice(0, 60)}… (${text.length} chars)` : text;
}

/** Records whose outcome differs from the expected one, described briefly (empty when all are right). */
function mismatches(outcomes: Array<{ status?: unknown; reason?: unknown; ignoredFields?: unknown }>, records: HostileRecord[]): string[] {
	const wrong: string[] = [];
	records.forEach(({ json, expected, category }, i) => {
		const outcome = outcomes[i];
		const ok =
			expected.status === 'synced'
				? outcome.status === 'synced' && (outcome.ignoredFields === undefined || JSON.stringify(outcome.ignoredFields) === JSON.stringify(expected.ignored))
				: outcome.status === 'not_synced' && outcome.reason === expected.reason;
		if (!ok) {
			wrong.push(
				`#${i} ${category} ${Object.entries(json).map(([k, v]) => `${k}=${brief(v)}`).join(' ')}: expected ${expected.status} ${
					expected.status === 'not_synced' ? expected.reason : ''
				}, got ${String(outcome.status)} ${String(outcome.reason ?? '')}`,
			);
		}
	});
	return wrong.slice(0, 15);
}

function expectAudience(audienceId: string, received: number): void {
	const actual = new Set(local.members(audienceId));
	const missing = [...EXPECTED.members].filter((member) => !actual.has(member));
	const extra = [...actual].filter((member) => !EXPECTED.members.has(member));
	expect({ missing: missing.slice(0, 5), extra: extra.slice(0, 5), missingCount: missing.length, extraCount: extra.length }).toEqual({
		missing: [],
		extra: [],
		missingCount: 0,
		extraCount: 0,
	});
	// Duplicates (same user written twice, or the same record twice) are sent once.
	expect(received).toBe(EXPECTED.distinctUsers);
}

useLocalTikTok((started) => (local = started));

beforeEach(() => {
	unhandled = watchUnhandled();
});

afterEach(() => {
	unhandled.stop();
	expect(unhandled.seen).toEqual([]);
});

it('the generator covers what it claims', () => {
	expect(RECORDS).toHaveLength(10_000);
	expect(HOSTILE_CATEGORY_COUNT).toBe(25);
	expect(RECORDS.filter((r) => JSON.stringify(r.json).length > 1_000_000).length).toBeGreaterThanOrEqual(15);
	expect(EXPECTED.synced).toBeGreaterThan(4_000);
	expect(EXPECTED.distinctUsers).toBeLessThan(EXPECTED.synced);
	expect(Object.keys(EXPECTED.notSynced).length).toBeGreaterThanOrEqual(12);
});

it('TikTok Audience node: 10,000 hostile records, each synced or not synced with its reason, duplicates sent once', async () => {
	const audienceId = await createAudience(local, 'hostile (audience node)');
	const run = await runOne(
		local,
		audienceNode(addParameters(audienceId, { matchFields: ALL_FIELDS, options: { defaultCountryCode: '1' } })),
		RECORDS.map((record) => record.json),
	);
	expect(run.error).toBeUndefined();
	const out = syncResults(run.output());
	expect(out).toHaveLength(10_000);
	expect(mismatches(out, RECORDS)).toEqual([]);
	expect(out.filter((item) => item.status === 'synced')).toHaveLength(EXPECTED.synced);
	expectAudience(audienceId, local.stats().usersReceived);
	expect(local.stats().mappingRequests).toBe(1);
});

it('TikTok Batch Sync node: 10,000 hostile records, metrics and per-user statuses with reasons, duplicates sent once', async () => {
	const audienceId = await createAudience(local, 'hostile (batch sync)');
	const run = await runOne(
		local,
		batchNode(syncParameters(audienceId, { defaultCountryCode: '1' }, { matchFields: ALL_FIELDS })),
		RECORDS.map((record) => record.json),
	);
	expect(run.error).toBeUndefined();
	const metrics = run.output(0)[0];
	expect(metrics).toMatchObject({
		entered: 10_000,
		proceeded: 10_000,
		synced: EXPECTED.synced,
		notSynced: 10_000 - EXPECTED.synced,
		pending: 0,
		errored: 0,
		rejected: 0,
	});
	expect(metrics.notSyncedReasons).toEqual(EXPECTED.notSynced);
	expectInvariant(metrics);
	expectInvariant(metrics.totals as IDataObject);

	const users = run.output(1);
	expect(users).toHaveLength(10_000);
	// The items pass through untouched, with their status and reason added.
	expect(users.every((user, i) => user.row === i)).toBe(true);
	expect(mismatches(syncResults(users), RECORDS)).toEqual([]);
	expectAudience(audienceId, local.stats().usersReceived);
});

it('the same records through n8n\'s own expression evaluation (not the plain $json shortcut) give the same outcomes', async () => {
	const sample = RECORDS.slice(0, HOSTILE_CATEGORY_COUNT * 4);
	const audienceId = await createAudience(local, 'hostile (expressions)');
	const run = await runOne(
		local,
		audienceNode(
			addParameters(audienceId, {
				matchFields: ALL_FIELDS,
				emailValue: '={{ $json.email ?? undefined }}',
				phoneValue: '={{ $json["phone"] === undefined ? undefined : $json["phone"] }}',
				idfaValue: '={{ $json.idfa ?? undefined }}',
				aaidValue: '={{ $json.gaid ?? $json.aaid ?? undefined }}',
				options: { defaultCountryCode: '1' },
			}),
		),
		sample.map((record) => record.json),
	);
	expect(run.error).toBeUndefined();
	expect(mismatches(syncResults(run.output()), sample)).toEqual([]);
});
