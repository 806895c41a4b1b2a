import type { Layout } from './layout';
import type { MirrorMemory } from './memory';
import type { RecordSet } from './recordSet';

/**
 * The comparison of a list with what a mirror remembers. A member is its tuple of hashed identifiers: the list's
 * members are a RecordSet (deduplicated), the remembered ones stream past it once. Memory: the list's set plus the
 * removed records, a few bytes per member; the remembered list is never held whole.
 */

/** Records in one growing Buffer (the members that left the list). */
export class RecordList {
	private data: Buffer;
	count = 0;

	constructor(readonly width: number, expected = 256) {
		this.data = Buffer.allocUnsafe(Math.max(1, expected) * width);
	}

	push(source: Buffer, offset: number): void {
		if ((this.count + 1) * this.width > this.data.length) {
			const bigger = Buffer.allocUnsafe(this.data.length * 2);
			this.data.copy(bigger, 0, 0, this.count * this.width);
			this.data = bigger;
		}
		source.copy(this.data, this.count * this.width, offset, offset + this.width);
		this.count++;
	}

	records(): Buffer {
		return this.data.subarray(0, this.count * this.width);
	}
}

export interface Comparison {
	/** Members remembered (present) before the run. */
	remembered: number;
	/**
	 * Per member of the list: 1 when it is remembered (unchanged), 0 when it is new; mirror.ts marks 2 where an earlier
	 * part of the same mirror added it (in TikTok already, but new to this mirror).
	 */
	known: Uint8Array;
	unchanged: number;
	/**
	 * Remembered members no longer in the list (only when asked for): first the present ones, then, from
	 * `unconfirmedFrom` on, unconfirmed ones (TikTok may hold them; removing them is cleanup, not someone leaving).
	 */
	removed: RecordList;
	unconfirmedFrom: number;
}

/**
 * Compares the list (`current`, in `layout`) with the memory; `collectRemoved` false for a part that is not the last.
 * Unconfirmed members are never "known": in the list they are added again, out of it removed again.
 */
export async function compareWithMemory(current: RecordSet, memory: MirrorMemory, layout: Layout, collectRemoved: boolean): Promise<Comparison> {
	const known = new Uint8Array(current.count);
	const removed = new RecordList(layout.width);
	let unchanged = 0;
	const remembered = await memory.scan((records, count) => {
		for (let n = 0; n < count; n++) {
			const offset = n * layout.width;
			const found = current.find(records, offset);
			if (found >= 0) {
				if (known[found] === 0) unchanged++;
				known[found] = 1;
			} else if (collectRemoved) {
				removed.push(records, offset);
			}
		}
	}, layout);
	const unconfirmedFrom = removed.count;
	if (collectRemoved) {
		const unconfirmed = memory.unconfirmed(layout);
		for (let n = 0; n < unconfirmed.count; n++) {
			if (current.find(unconfirmed.records, n * layout.width) < 0) removed.push(unconfirmed.records, n * layout.width);
		}
	}
	return { remembered, known, unchanged, removed, unconfirmedFrom };
}

export interface RemovalPlan {
	/**
	 * Per removed member: 1 when it shares an identifier with a member new to the mirror (the same person with a
	 * changed identifier, or Fields to Match gained a field): "changed", not counted against the safety limit.
	 */
	changed: Uint8Array;
	/**
	 * Per removed member: a bit per slot whose identifier a member already in TikTok still has (unchanged, or added by an
	 * earlier part of the mirror). Those identifiers are left out of the removal, since TikTok removes identifiers, not tuples: removing a shared phone would take it from the
	 * member who stays. (Identifiers shared with new members are removed and added again: removes go first.)
	 */
	keep: Uint8Array;
	changedCount: number;
}

/**
 * Finds the identifiers removed members share with members of the list: an index of the removed members'
 * identifiers (open addressing over their slot bytes), probed once per identifier of the list.
 */
export function planRemovals(current: RecordSet, known: Uint8Array, removed: RecordList, layout: Layout): RemovalPlan {
	const changed = new Uint8Array(removed.count);
	const keep = new Uint8Array(removed.count);
	let changedCount = 0;
	if (removed.count === 0) return { changed, keep, changedCount };

	const slots = layout.types.length;
	const removedRecords = removed.records();
	let size = 32;
	while (size < removed.count * slots * 2) size *= 2;
	const index = new Int32Array(size);
	const mask = size - 1;
	const slotStart = (records: Buffer, n: number, slot: number) => n * layout.width + layout.offsets[slot];
	const isEmpty = (records: Buffer, start: number, width: number) => {
		for (let at = start; at < start + width; at += 4) if (records.readUInt32LE(at) !== 0) return false;
		return true;
	};
	for (let n = 0; n < removed.count; n++) {
		for (let slot = 0; slot < slots; slot++) {
			const start = slotStart(removedRecords, n, slot);
			if (isEmpty(removedRecords, start, layout.widths[slot])) continue;
			let bucket = removedRecords.readInt32LE(start) & mask;
			while (index[bucket] !== 0) bucket = (bucket + 1) & mask;
			index[bucket] = n * slots + slot + 1;
		}
	}

	const list = current.records();
	for (let m = 0; m < current.count; m++) {
		for (let slot = 0; slot < slots; slot++) {
			const start = slotStart(list, m, slot);
			const width = layout.widths[slot];
			if (slots > 1 && isEmpty(list, start, width)) continue;
			let bucket = list.readInt32LE(start) & mask;
			for (let entry = index[bucket]; entry !== 0; bucket = (bucket + 1) & mask, entry = index[bucket]) {
				const removedSlot = (entry - 1) % slots;
				if (removedSlot !== slot) continue;
				const n = Math.floor((entry - 1) / slots);
				const other = slotStart(removedRecords, n, slot);
				if (list.compare(removedRecords, other, other + width, start, start + width) !== 0) continue;
				// In TikTok with this identifier already (remembered, or added by an earlier part): it must stay.
				if (known[m] !== 0) keep[n] |= 1 << slot;
				// New to this mirror: the removed member's identifier changed, it did not leave.
				if (known[m] !== 1 && changed[n] === 0) {
					changed[n] = 1;
					changedCount++;
				}
			}
		}
	}
	return { changed, keep, changedCount };
}
