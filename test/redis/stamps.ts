/** The most stamps (µs) inside any half-open window [t, t + windowMicros). */
export function maxInSlidingWindow(stamps: readonly number[], windowMicros = 1_000_000): number {
	const sorted = [...stamps].sort((a, b) => a - b);
	let max = 0;
	let end = 0;
	for (let start = 0; start < sorted.length; start++) {
		while (end < sorted.length && sorted[end] < sorted[start] + windowMicros) end++;
		max = Math.max(max, end - start);
	}
	return max;
}

/** The smallest gap (µs) between consecutive stamps. */
export function minGap(stamps: readonly number[]): number {
	const sorted = [...stamps].sort((a, b) => a - b);
	let min = Infinity;
	for (let i = 1; i < sorted.length; i++) min = Math.min(min, sorted[i] - sorted[i - 1]);
	return min;
}
