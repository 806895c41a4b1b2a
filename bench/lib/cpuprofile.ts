/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and sums self time by function and by where the code lives (this
 * package, n8n-core, n8n-workflow, n8n's server, the database driver, Node itself), so the bench can say where n8n's
 * CPU per execution goes.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
	id: number;
	callFrame: { functionName: string; url: string; lineNumber: number };
	children?: number[];
}

interface CpuProfile {
	nodes: ProfileNode[];
	samples: number[];
	timeDeltas: number[];
	startTime: number;
	endTime: number;
}

export interface ProfileSummary {
	totalMs: number;
	byArea: Array<{ area: string; ms: number; share: number }>;
	topFunctions: Array<{ name: string; area: string; ms: number; share: number }>;
}

const AREAS: Array<[string, RegExp]> = [
	['this package', /n8n-nodes-tiktok-audience-sync/],
	['n8n-core', /node_modules\/n8n-core\//],
	['n8n-workflow', /node_modules\/n8n-workflow\//],
	['n8n server (cli)', /node_modules\/n8n\/dist\//],
	['@n8n/* (db, config, di, …)', /node_modules\/@n8n\//],
	['typeorm / sqlite', /node_modules\/(typeorm|sqlite3)\//],
	['express / body parsing / http', /node_modules\/(express|body-parser|raw-body|router|finalhandler|send|qs|iconv-lite)\//],
	['other node_modules', /node_modules\//],
	['node internals', /^node:|^internal\//],
];

function areaOf(url: string, functionName: string): string {
	if (!url) return functionName.startsWith('(') ? functionName : 'native / V8';
	for (const [area, pattern] of AREAS) if (pattern.test(url)) return area;
	return 'other';
}

function shortUrl(url: string): string {
	const index = url.lastIndexOf('node_modules/');
	return index >= 0 ? url.slice(index + 'node_modules/'.length) : url.replace(/^file:\/\//, '');
}

/** The monotonic clock V8 stamps profile samples with (µs), read in another process of the same machine. */
export function monotonicUs(): number {
	return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Self time per function and per area; `(idle)` and `(program)` samples are left out of the shares. `window` keeps
 * only the samples taken between two monotonicUs() readings (e.g. a measured block, without startup and warm-up).
 */
export function summarizeProfile(file: string, top = 25, window?: { fromUs: number; toUs: number }): ProfileSummary {
	const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
	const byId = new Map(profile.nodes.map((node) => [node.id, node]));
	const selfUs = new Map<number, number>();
	let at = profile.startTime;
	for (let i = 0; i < profile.samples.length; i++) {
		at += profile.timeDeltas[i] ?? 0;
		if (window && (at < window.fromUs || at > window.toUs)) continue;
		const id = profile.samples[i];
		selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
	}
	const areas = new Map<string, number>();
	const functions = new Map<string, { area: string; us: number }>();
	let total = 0;
	for (const [id, us] of selfUs) {
		const node = byId.get(id);
		if (!node) continue;
		const { functionName, url, lineNumber } = node.callFrame;
		if (functionName === '(idle)' || functionName === '(program)') continue;
		total += us;
		const area = areaOf(url, functionName);
		areas.set(area, (areas.get(area) ?? 0) + us);
		const name = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
		const entry = functions.get(name) ?? { area, us: 0 };
		entry.us += us;
		functions.set(name, entry);
	}
	const ms = (us: number) => us / 1000;
	return {
		totalMs: ms(total),
		byArea: [...areas].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, ms: ms(us), share: us / total })),
		topFunctions: [...functions]
			.sort((a, b) => b[1].us - a[1].us)
			.slice(0, top)
			.map(([name, entry]) => ({ name, area: entry.area, ms: ms(entry.us), share: entry.us / total })),
	};
}
