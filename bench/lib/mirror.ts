import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { MirrorArgs, MirrorResult } from '../phases/mirror';

/** The Mirror List part of `npm run bench` (run side): which runs, and the table rows. Phases: bench/phases/mirror.ts. */

export const MIRROR_CONFIG = { members: 1_000_000, replaced: 0.01 };
export const MIRROR_TARGETS = { cpuMs: 5_000, extraBytes: 150e6 };

type Phase = <T>(name: string, args: unknown, timeoutMs: number) => Promise<T>;

export interface MirrorRun {
	store: 'disk' | 'redis';
	fields: Array<'email' | 'phone'>;
	first: MirrorResult;
	measured: MirrorResult;
}

function location(store: 'disk' | 'redis', label: string): string {
	const unique = `${label}-${process.pid}-${Date.now().toString(36)}`;
	return store === 'disk' ? join(tmpdir(), `tiktok-bench-mirror-${unique}`) : `tiktok-bench-mirror-${unique}`;
}

/**
 * For each store and each set of fields: a first mirror of the list (fresh process), then the measured mirror with
 * 1% of it replaced (another fresh process, so its peak memory is its own). Redis runs are skipped when Redis does
 * not answer (`redisRequired` false).
 */
export async function mirrorPhases(phase: Phase, redisRequired: boolean, log: (line: string) => void): Promise<MirrorRun[]> {
	const runs: MirrorRun[] = [];
	for (const store of ['disk', 'redis'] as const) {
		for (const fields of [['email'], ['email', 'phone']] as Array<MirrorRun['fields']>) {
			const args: MirrorArgs = { step: 'prime', store, fields, ...MIRROR_CONFIG, location: location(store, fields.join('-')) };
			try {
				const first = await phase<MirrorResult>('mirror', args, 300_000);
				const measured = await phase<MirrorResult>('mirror', { ...args, step: 'run', audienceId: first.audienceId }, 300_000);
				runs.push({ store, fields, first, measured });
			} catch (error) {
				if (store === 'redis' && !redisRequired) {
					log(`bench: mirror on Redis skipped (${(error as Error).message})`);
					break;
				}
				throw error;
			}
		}
	}
	return runs;
}

export interface MirrorRow {
	metric: string;
	result: string;
	target: string;
	status: 'pass' | 'MISS' | '';
}

const int = (value: number) => Math.round(value).toLocaleString('en-US');
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

export function mirrorRows(runs: MirrorRun[]): MirrorRow[] {
	const rows: MirrorRow[] = [];
	for (const { store, fields, first, measured } of runs) {
		const label = `Mirror List, ${int(measured.members)} members (${fields.join(' + ')}), ${MIRROR_CONFIG.replaced * 100}% replaced, ${store === 'disk' ? 'disk store' : 'Redis store'}`;
		const changes = measured.outcome.added + measured.outcome.removed;
		// The local API in bench mode counts identifiers (email + phone: two per member, some phones shared), so the
		// audience size equals the member count only for a one-field list.
		const sentOnlyChanges =
			measured.api.usersAdded + measured.api.usersDeleted === changes && (fields.length > 1 || measured.api.memberCount === measured.members);
		const email = fields.length === 1;
		rows.push(
			{
				metric: `${label}: CPU of normalise + hash / compare + send + remember; wall (comparison alone)`,
				result: `**${s(measured.totalCpuMs)}** (${s(measured.hashCpuMs)} + ${s(measured.mirrorCpuMs)}); ${s(measured.wallMs)} (${s(measured.compareWallMs)})`,
				target: email ? `< ${s(MIRROR_TARGETS.cpuMs)} CPU` : '',
				status: email ? (measured.totalCpuMs < MIRROR_TARGETS.cpuMs ? 'pass' : 'MISS') : '',
			},
			{
				metric: '… peak extra memory (RSS over the raw list); memory kept per member',
				result: `**${mb(measured.peakExtraBytes)}** (${int(measured.peakExtraBytes / measured.members)} B/member); ${measured.storeBytesPerMember.toFixed(1)} B/member (${mb(measured.storeBytes)})`,
				target: email ? `< ${mb(MIRROR_TARGETS.extraBytes)}` : '',
				status: email ? (measured.peakExtraBytes < MIRROR_TARGETS.extraBytes ? 'pass' : 'MISS') : '',
			},
			{
				metric: '… requests and users sent (only the changes); audience size after (identifiers)',
				result: `${measured.api.requests} requests, ${int(measured.api.usersAdded)} added + ${int(measured.api.usersDeleted)} removed of ${int(changes)} changes, ${int(measured.outcome.unchanged)} unchanged not sent; ${int(measured.api.memberCount)}`,
				target: 'no request for an unchanged user',
				status: sentOnlyChanges ? 'pass' : 'MISS',
			},
			{
				metric: '… the first mirror of that list (everyone added): CPU; wall; peak extra memory; requests',
				result: `${s(first.totalCpuMs)}; ${s(first.wallMs)}; ${mb(first.peakExtraBytes)}; ${first.api.requests}`,
				target: '',
				status: '',
			},
		);
	}
	return rows;
}
