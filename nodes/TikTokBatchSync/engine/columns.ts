/**
 * The ids of one idSchema slot for all rows of a chunk: the strings as submitted ('text'), or, once the chunk has to
 * wait for a retry, raw bytes ('hex': 32 bytes per SHA-256 instead of an ~80-byte string) with a bitmap of the rows
 * that have an id. Only uniform lowercase hex is packed, so an id is never altered.
 */
export type IdColumn =
	| { readonly kind: 'hex'; readonly bytesPerId: number; readonly bytes: Buffer; readonly present?: Uint8Array }
	| { readonly kind: 'text'; readonly values: ReadonlyArray<string | undefined> };

export function packColumn(values: ReadonlyArray<string | undefined>): IdColumn {
	let length = -1;
	let presentCount = 0;
	for (const value of values) {
		if (value === undefined) continue;
		presentCount++;
		if (length === -1) length = value.length;
		if (value.length !== length || length === 0 || length % 2 !== 0) return { kind: 'text', values };
	}
	const bytesPerId = Math.max(length, 0) / 2;
	const bytes = Buffer.allocUnsafeSlow(presentCount * bytesPerId);
	const present = presentCount < values.length ? new Uint8Array(Math.ceil(values.length / 8)) : undefined;
	let offset = 0;
	for (let row = 0; row < values.length; row++) {
		const value = values[row];
		if (value === undefined) continue;
		// Lowercase hex only (checked while writing, about twice as fast as a regex test first): Node's hex decoder
		// stops at the first character that is not hex, and would accept upper case, which must stay text.
		if (bytes.write(value, offset, 'hex') !== bytesPerId || value !== value.toLowerCase()) return { kind: 'text', values };
		offset += bytesPerId;
		if (present) present[row >> 3] |= 1 << (row & 7);
	}
	return { kind: 'hex', bytesPerId, bytes, present };
}

/** The ids as strings. A 'text' column is returned as is: read-only. */
export function unpackColumn(column: IdColumn, rows: number): ReadonlyArray<string | undefined> {
	if (column.kind === 'text') return column.values;
	const values = new Array<string | undefined>(rows);
	let offset = 0;
	for (let row = 0; row < rows; row++) {
		if (column.present && (column.present[row >> 3] & (1 << (row & 7))) === 0) {
			values[row] = undefined;
			continue;
		}
		values[row] = column.bytes.toString('hex', offset, offset + column.bytesPerId);
		offset += column.bytesPerId;
	}
	return values;
}
