/** A seeded pseudo-random source (mulberry32): the same seed gives the same run. */
export interface Random {
	/** [0, 1) */
	next(): number;
	/** An integer in [0, below). */
	int(below: number): number;
	pick<T>(values: ReadonlyArray<T>): T;
}

export function randomSource(seed: number): Random {
	let state = seed >>> 0;
	const next = () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
	return {
		next,
		int: (below) => Math.floor(next() * below),
		pick: (values) => values[Math.floor(next() * values.length)],
	};
}
