import type { MappingAction } from '../../../shared/transport/types';
import type { SyncUser } from '../types';

/*
 * A window's submissions travel through Redis as one string, appended to as they come and merged by whoever claims
 * the window, so Redis never looks at a user: per user one row "<flag><row>\n", where <row> is the ids joined by tabs
 * ('' where the user lacks that id type) and <flag> is 'a' or 'd' (add or remove, the key being the ids themselves:
 * one id, or the ids joined by '|') or 'A' or 'D' followed by "<key>\t" for any other key. The admit script writes
 * a window's first run's rows as they are (their time is the window's 'at') and puts "@<time>\n" before each later
 * run's rows. Hashed ids and keys never hold tabs or line breaks (checked before packing).
 */

/** The key a user has when it is made from its ids alone (the node's dedupeKey). */
function keyOfIds(ids: ReadonlyArray<string | undefined>): string {
	return ids.length === 1 ? (ids[0] ?? '') : ids.map((id) => id ?? '').join('|');
}

/** A batch of rows and where each ends, so the admit script can cut it at any row without looking at a user. */
export interface PackedRows {
	/** The rows as UTF-8 bytes (what the client would have made of a string anyway). */
	rows: Buffer;
	/**
	 * "w<bytes>" when every row has that many bytes (the usual case: one hashed id each), otherwise each row's end
	 * (bytes from the batch's start, after its line break) as little-endian 32-bit numbers.
	 */
	ends: string | Buffer;
}

/** Users [from, to) as rows. */
export function packRows(users: ReadonlyArray<SyncUser>, from: number, to: number, defaultAction: MappingAction): PackedRows {
	let packed = '';
	const lengths = new Uint32Array(to - from);
	let uniform = true;
	for (let index = from; index < to; index++) {
		const { key, ids, action = defaultAction } = users[index];
		const row = ids.length === 1 ? (ids[0] as string) : ids.map((id) => id ?? '').join('\t');
		const line = key === keyOfIds(ids) ? (action === 'delete' ? 'd' : 'a') + row + '\n' : (action === 'delete' ? 'D' : 'A') + key + '\t' + row + '\n';
		packed += line;
		lengths[index - from] = line.length;
		if (line.length !== lengths[0]) uniform = false;
	}
	const rows = Buffer.from(packed);
	// As many bytes as characters: all ASCII, so a row's length in characters is its length in bytes.
	const ascii = rows.length === packed.length;
	if (uniform && ascii) return { rows, ends: `w${lengths[0] ?? 0}` };
	const ends = Buffer.alloc(4 * lengths.length);
	let end = 0;
	let offset = 0;
	for (let line = 0; line < lengths.length; line++) {
		const next = offset + lengths[line];
		// A key may hold characters beyond ASCII: count its bytes.
		end += ascii ? lengths[line] : Buffer.byteLength(packed.slice(offset, next));
		ends.writeUInt32LE(end, 4 * line);
		offset = next;
	}
	return { rows, ends };
}

/** Journal rows (one action, keys from the ids), with their entry time. */
export function packJournalRows(columns: ReadonlyArray<ReadonlyArray<string | undefined>>, rows: number, action: MappingAction, enteredAt: number): string {
	const flag = action === 'delete' ? 'd' : 'a';
	let packed = `@${enteredAt}\n`;
	for (let row = 0; row < rows; row++) packed += flag + columns.map((column) => column[row] ?? '').join('\t') + '\n';
	return packed;
}

const TAB_OR_BREAK = /[\t\n]/;

/** Hashed ids and keys never hold tabs or line breaks; anything that does would corrupt a packed row. */
export function checkPackable(users: ReadonlyArray<SyncUser>): void {
	for (let index = 0; index < users.length; index++) {
		const { key, ids } = users[index];
		// The usual user's key is its one id: one look covers both.
		if (ids.length !== 1 || key !== ids[0]) {
			if (TAB_OR_BREAK.test(key)) throw new TypeError(`Batch Sync user ${index} has a key with a tab or line break`);
		}
		for (const id of ids) {
			if (id !== undefined && TAB_OR_BREAK.test(id)) throw new TypeError(`Batch Sync user ${index} has an id with a tab or line break`);
		}
	}
}

export interface MergedPart {
	/** Rows in the order their users took their last action. */
	rows: string[];
	/** Submissions the part stands for (duplicates included). */
	users: number;
	/** Latest entry among the submissions with this action. */
	enteredAt: number;
}

export interface MergedWindow {
	add: MergedPart;
	delete: MergedPart;
	/** Users whose submissions in the window had both actions: "<key>\t<a|d>\n" with the action that won. */
	moved: string;
}

/**
 * A window's requests, by the rules the in-process engine applies as users arrive: a user's duplicates share one
 * row and its last action wins; a user keeps its first row while its action stays, and moves to the end of the other
 * request (with the ids it came back with) when it changes.
 */
export function mergeWindow(raw: string, openedAt = 0): MergedWindow {
	return mergeDistinct(raw, openedAt) ?? mergeAny(raw, openedAt);
}

/**
 * The usual window, cheaply: one action, one id per user, every user once. Undefined as soon as a row is anything
 * else (the general merge then starts over).
 */
function mergeDistinct(raw: string, openedAt: number): MergedWindow | undefined {
	const seen = new Set<string>();
	const rows: string[] = [];
	let flag = -1;
	let time = openedAt;
	let entered = 0;
	let start = 0;
	while (start < raw.length) {
		let end = raw.indexOf('\n', start);
		if (end === -1) end = raw.length;
		const code = raw.charCodeAt(start);
		if (code === 64 /* @ */) {
			time = Number(raw.slice(start + 1, end));
			start = end + 1;
			continue;
		}
		if (code !== 97 /* a */ && code !== 100 /* d */) return undefined;
		if (flag === -1) flag = code;
		else if (code !== flag) return undefined;
		const row = raw.slice(start + 1, end);
		if (row.includes('\t')) return undefined;
		const size = seen.size;
		seen.add(row);
		if (seen.size === size) return undefined;
		rows.push(row);
		if (time > entered) entered = time;
		start = end + 1;
	}
	const part: MergedPart = { rows, users: rows.length, enteredAt: entered };
	const none: MergedPart = { rows: [], users: 0, enteredAt: 0 };
	return flag === 100 ? { add: none, delete: part, moved: '' } : { add: part, delete: none, moved: '' };
}

function mergeAny(raw: string, openedAt: number): MergedWindow {
	const indexOf = new Map<string, number>();
	const removing: number[] = [];
	const rowOf: string[] = [];
	const position: number[] = [];
	const submissions: number[] = [];
	const keys: string[] = [];
	let moves: Set<number> | undefined;
	const entered = [0, 0];
	// The rows before the first '@<time>' line came at `openedAt` (the window's 'at').
	let time = openedAt;
	let order = 0;
	let start = 0;
	while (start < raw.length) {
		let end = raw.indexOf('\n', start);
		if (end === -1) end = raw.length;
		const flag = raw.charCodeAt(start);
		if (flag === 64 /* @ */) {
			time = Number(raw.slice(start + 1, end));
			start = end + 1;
			continue;
		}
		const act = flag === 100 /* d */ || flag === 68 /* D */ ? 1 : 0;
		let key: string;
		let row: string;
		if (flag === 97 || flag === 100) {
			row = raw.slice(start + 1, end);
			key = row.includes('\t') ? row.replace(/\t/g, '|') : row;
		} else {
			const tab = raw.indexOf('\t', start + 1);
			key = raw.slice(start + 1, tab);
			row = raw.slice(tab + 1, end);
		}
		start = end + 1;
		if (time > entered[act]) entered[act] = time;
		const known = indexOf.get(key);
		if (known === undefined) {
			indexOf.set(key, keys.length);
			keys.push(key);
			removing.push(act);
			rowOf.push(row);
			position.push(order++);
			submissions.push(1);
			continue;
		}
		submissions[known]++;
		if (removing[known] !== act) {
			removing[known] = act;
			rowOf[known] = row;
			position[known] = order++;
			(moves ??= new Set()).add(known);
		}
	}
	const parts: MergedPart[] = [
		{ rows: [], users: 0, enteredAt: entered[0] },
		{ rows: [], users: 0, enteredAt: entered[1] },
	];
	let indices: number[] | undefined;
	if (moves) indices = Array.from(keys.keys()).sort((a, b) => position[a] - position[b]);
	for (let n = 0; n < keys.length; n++) {
		const index = indices ? indices[n] : n;
		const part = parts[removing[index]];
		part.rows.push(rowOf[index]);
		part.users += submissions[index];
	}
	let moved = '';
	for (const index of moves ?? []) moved += `${keys[index]}\t${removing[index] === 1 ? 'd' : 'a'}\n`;
	return { add: parts[0], delete: parts[1], moved };
}

/** The moved users of a window: key → the action that won. */
export function parseMoved(moved: string): Map<string, MappingAction> {
	const out = new Map<string, MappingAction>();
	for (const line of moved.split('\n')) {
		const tab = line.lastIndexOf('\t');
		if (tab > 0) out.set(line.slice(0, tab), line.slice(tab + 1) === 'd' ? 'delete' : 'add');
	}
	return out;
}

/** A part's rows as the sender's id columns ('' → no id). */
export function columnsOf(rows: ReadonlyArray<string>, slots: number): Array<Array<string | undefined>> {
	if (slots === 1) return [rows as string[]];
	const columns: Array<Array<string | undefined>> = Array.from({ length: slots }, () => new Array(rows.length));
	for (let row = 0; row < rows.length; row++) {
		const ids = rows[row].split('\t');
		for (let slot = 0; slot < slots; slot++) columns[slot][row] = ids[slot] === '' ? undefined : ids[slot];
	}
	return columns;
}
