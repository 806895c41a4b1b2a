import { idTypeFor, type IdentifierOptions, type MatchField } from '../identifiers/fields';
import { hashUser } from '../identifiers/hash';
import { layoutOf, slotPresent, writeMember, type Layout } from './layout';
import { RecordSet } from './recordSet';

/** A list as a mirror sees it: its distinct members, the first item of each, and the items it could not use. */
export interface HashedList {
	layout: Layout;
	members: RecordSet;
	/** Per member: the index of its first item. */
	itemOf: Int32Array;
	notSynced: Array<{ itemIndex: number; reason: string }>;
}

/**
 * Normalises and hashes every item's identifiers (the same rules as Add and Batch Sync) straight into member
 * records: no object per user survives the loop.
 */
export function hashList(fields: MatchField[], options: IdentifierOptions, count: number, valuesOf: (itemIndex: number) => unknown[]): HashedList {
	const layout = layoutOf(fields.map((field) => idTypeFor(field, options.deviceIdHash)));
	const slots = fields.map((field) => layout.types.indexOf(idTypeFor(field, options.deviceIdHash)));
	const members = new RecordSet(layout, count);
	const itemOf = new Int32Array(count);
	const notSynced: HashedList['notSynced'] = [];
	const scratch = Buffer.alloc(layout.width);
	for (let itemIndex = 0; itemIndex < count; itemIndex++) {
		const user = hashUser(fields, valuesOf(itemIndex), options);
		if (user.notSyncedReason !== undefined) {
			notSynced.push({ itemIndex, reason: user.notSyncedReason });
			continue;
		}
		writeMember(scratch, 0, layout, slots, user.ids);
		let present = false;
		for (let slot = 0; slot < slots.length && !present; slot++) present = slotPresent(scratch, 0, layout, slot);
		if (!present) {
			notSynced.push({ itemIndex, reason: 'its identifiers are hashes of nothing (all zeros)' });
			continue;
		}
		const member = members.add(scratch, 0);
		if (member >= 0) itemOf[member] = itemIndex;
	}
	return { layout, members, itemOf, notSynced };
}
