import type { Layout } from './layout';

/**
 * A set of fixed-width member records kept in one Buffer, with an open-addressing index (Int32Array, linear
 * probing): about `width + 8` to `width + 16` bytes per member and no object per member, so a list of a million
 * emails costs ~45 MB rather than the ~200 MB a Set of hex strings would. Records are hashes already, so the first
 * four bytes of each slot make a well-spread bucket number without hashing again.
 */
export class RecordSet {
	readonly layout: Layout;
	readonly width: number;
	private data: Buffer;
	private index: Int32Array;
	private mask: number;
	private size = 0;

	constructor(layout: Layout, expected = 1024) {
		this.layout = layout;
		this.width = layout.width;
		const capacity = Math.max(16, expected);
		this.data = Buffer.allocUnsafe(capacity * this.width);
		this.index = new Int32Array(indexSizeFor(capacity));
		this.mask = this.index.length - 1;
	}

	get count(): number {
		return this.size;
	}

	/** The records, in insertion order (a view: valid until the next add). */
	records(): Buffer {
		return this.data.subarray(0, this.size * this.width);
	}

	/** Byte offset of record `n` in records(). */
	offsetOf(n: number): number {
		return n * this.width;
	}

	/**
	 * Adds the record at `offset` of `source`. Returns its number when it is new, or -(number + 1) of the equal record
	 * already in the set.
	 */
	add(source: Buffer, offset: number): number {
		let bucket = this.bucketOf(source, offset);
		for (;;) {
			const entry = this.index[bucket];
			if (entry === 0) break;
			if (this.equalAt(entry - 1, source, offset)) return -entry;
			bucket = (bucket + 1) & this.mask;
		}
		if ((this.size + 1) * this.width > this.data.length) this.growData();
		const n = this.size++;
		source.copy(this.data, n * this.width, offset, offset + this.width);
		this.index[bucket] = n + 1;
		if (this.size * 2 > this.index.length) this.growIndex();
		return n;
	}

	/** Adds every record of `records` (count of them); returns how many were new. */
	addAll(records: Buffer, count: number): number {
		let added = 0;
		for (let n = 0; n < count; n++) if (this.add(records, n * this.width) >= 0) added++;
		return added;
	}

	/** The number of the record equal to the one at `offset` of `source`, or -1. */
	find(source: Buffer, offset: number): number {
		let bucket = this.bucketOf(source, offset);
		for (;;) {
			const entry = this.index[bucket];
			if (entry === 0) return -1;
			if (this.equalAt(entry - 1, source, offset)) return entry - 1;
			bucket = (bucket + 1) & this.mask;
		}
	}

	private bucketOf(source: Buffer, offset: number): number {
		const { offsets } = this.layout;
		let hash = 0;
		// XOR of each slot's leading 32 bits: an absent slot (zeros) adds nothing, so (email) and (email, phone) differ.
		for (let slot = 0; slot < offsets.length; slot++) hash ^= source.readInt32LE(offset + offsets[slot]);
		return hash & this.mask;
	}

	private equalAt(n: number, source: Buffer, offset: number): boolean {
		const start = n * this.width;
		// Most records met while probing differ in their first bytes: told apart without a native call.
		if (this.data.readInt32LE(start + this.layout.offsets[0]) !== source.readInt32LE(offset + this.layout.offsets[0])) return false;
		return this.data.compare(source, offset, offset + this.width, start, start + this.width) === 0;
	}

	private growData(): void {
		const bigger = Buffer.allocUnsafe(Math.max(this.data.length * 2, this.width * 16));
		this.data.copy(bigger, 0, 0, this.size * this.width);
		this.data = bigger;
	}

	private growIndex(): void {
		this.index = new Int32Array(this.index.length * 2);
		this.mask = this.index.length - 1;
		for (let n = 0; n < this.size; n++) {
			let bucket = this.bucketOf(this.data, n * this.width);
			while (this.index[bucket] !== 0) bucket = (bucket + 1) & this.mask;
			this.index[bucket] = n + 1;
		}
	}
}

/** A power of two at least twice `capacity` (load factor at most one half). */
function indexSizeFor(capacity: number): number {
	let size = 32;
	while (size < capacity * 2) size *= 2;
	return size;
}
