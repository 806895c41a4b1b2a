import { ID_TYPES, type IdType } from '../transport/types';

/**
 * How a mirror remembers one member: a fixed-width record of raw hash bytes, one slot per identifier type, in the
 * order of ID_TYPES (the order requests carry them). A SHA-256 takes 32 bytes, an MD5 16; a slot the member lacks is
 * all zeros (no real hash is). An email-only mirror spends 32 bytes per member, email + phone 64: no hex, no
 * separators, no per-member object.
 */
export interface Layout {
	/** The identifier types, in ID_TYPES order. */
	readonly types: readonly IdType[];
	/** Byte offset of each slot inside a record. */
	readonly offsets: readonly number[];
	/** Bytes of each slot (32 for SHA-256, 16 for MD5). */
	readonly widths: readonly number[];
	/** Bytes per record. */
	readonly width: number;
}

export function hashBytesOf(type: IdType): number {
	return type.endsWith('_MD5') ? 16 : 32;
}

/** The layout of these types (any order, duplicates ignored), slots in ID_TYPES order. */
export function layoutOf(types: readonly IdType[]): Layout {
	const wanted = new Set(types);
	const ordered = ID_TYPES.filter((type) => wanted.has(type));
	if (ordered.length === 0) throw new RangeError('A mirror needs at least one identifier type');
	const offsets: number[] = [];
	const widths: number[] = [];
	let width = 0;
	for (const type of ordered) {
		offsets.push(width);
		widths.push(hashBytesOf(type));
		width += hashBytesOf(type);
	}
	return { types: ordered, offsets, widths, width };
}

export function sameLayout(a: Layout, b: Layout): boolean {
	return a.types.length === b.types.length && a.types.every((type, slot) => b.types[slot] === type);
}

/** Every type of either layout: what a run whose Fields to Match changed compares in. */
export function unionLayout(a: Layout, b: Layout): Layout {
	return layoutOf([...a.types, ...b.types]);
}

/** For each slot of `from`, the slot of `to` holding the same type (-1 when `to` lacks it). */
export function slotMap(from: Layout, to: Layout): number[] {
	return from.types.map((type) => to.types.indexOf(type));
}

/**
 * `count` records of `from` rewritten in `to`: shared types are copied, types only `to` has stay empty, types only
 * `from` has are dropped (callers drop only slots no record uses).
 */
export function convertRecords(records: Buffer, count: number, from: Layout, to: Layout): Buffer {
	const out = Buffer.alloc(count * to.width);
	const map = slotMap(from, to);
	for (let index = 0; index < count; index++) {
		const source = index * from.width;
		const target = index * to.width;
		for (let slot = 0; slot < map.length; slot++) {
			if (map[slot] < 0) continue;
			records.copy(out, target + to.offsets[map[slot]], source + from.offsets[slot], source + from.offsets[slot] + from.widths[slot]);
		}
	}
	return out;
}

/** Whether the slot of the record at `offset` holds a hash (a slot the member lacks is all zeros). */
export function slotPresent(records: Buffer, offset: number, layout: Layout, slot: number): boolean {
	const start = offset + layout.offsets[slot];
	const end = start + layout.widths[slot];
	for (let at = start; at < end; at += 4) if (records.readUInt32LE(at) !== 0) return true;
	return false;
}

/** The hex hash of one slot (what TikTok receives), or undefined where the member lacks it. */
export function slotHex(records: Buffer, offset: number, layout: Layout, slot: number): string | undefined {
	if (!slotPresent(records, offset, layout, slot)) return undefined;
	const start = offset + layout.offsets[slot];
	return records.toString('hex', start, start + layout.widths[slot]);
}

/** Writes a member's hex hashes (one per type of `types`, undefined where absent) into `target` at `offset`. */
export function writeMember(
	target: Buffer,
	offset: number,
	layout: Layout,
	slots: readonly number[],
	hexes: ReadonlyArray<string | undefined>,
): void {
	target.fill(0, offset, offset + layout.width);
	for (let index = 0; index < hexes.length; index++) {
		const hex = hexes[index];
		if (hex !== undefined) target.write(hex, offset + layout.offsets[slots[index]], layout.widths[slots[index]], 'hex');
	}
}

/** Types as stored (short codes: positions in ID_TYPES), and back. */
export function encodeTypes(types: readonly IdType[]): number[] {
	return types.map((type) => ID_TYPES.indexOf(type));
}

export function decodeTypes(codes: readonly number[]): IdType[] {
	return codes.map((code) => {
		const type = ID_TYPES[code];
		if (type === undefined) throw new RangeError(`Unknown identifier type code ${code} in a mirror's memory`);
		return type;
	});
}
