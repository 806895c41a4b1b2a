import { performance } from 'node:perf_hooks';

/** Milliseconds on a wall clock shared by the bench processes (sub-millisecond resolution). */
export function wallNow(): number {
	return performance.timeOrigin + performance.now();
}

/** Nearest-rank percentile of an ascending-sorted array (p in 0..100). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
	if (sorted.length === 0) return NaN;
	const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
	return sorted[rank];
}

export function median(values: number[]): number {
	return percentile([...values].sort((a, b) => a - b), 50);
}

/** CPU microseconds (user + system) this process used since `since`. */
export function cpuSince(since: NodeJS.CpuUsage): number {
	const delta = process.cpuUsage(since);
	return delta.user + delta.system;
}

export async function sleep(ms: number): Promise<void> {
	await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rounds to `digits` significant digits (for results.json: no false precision). */
export function sig(value: number, digits = 3): number {
	if (!Number.isFinite(value) || value === 0) return value;
	return Number(value.toPrecision(digits));
}
