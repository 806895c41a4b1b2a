import { MAX_USERS_PER_REQUEST, type IdType, type MappingAction, type MappingRequest, type MappingSlot } from './types';

/** Where users go: one audience of one ad account, added or removed, with the id types each row carries. */
export interface MappingTarget {
	advertiserId: string;
	audienceId: string;
	action: MappingAction;
	idSchema: IdType[];
}

/** The users of one segment-mapping request, column by column: `columns[slot][row]`, undefined where a user lacks it. */
export interface MappingBatch {
	target: MappingTarget;
	rows: number;
	columns: ReadonlyArray<ReadonlyArray<string | undefined>>;
}

/**
 * The one builder of segment-mapping requests (both nodes send through it): one batch_data row per user, one slot
 * per idSchema entry, `{id, audience_ids}` or `{}` where the user lacks that id type. At most 10,000 rows.
 */
export function buildMappingRequest({ target, rows, columns }: MappingBatch): MappingRequest {
	if (rows > MAX_USERS_PER_REQUEST) throw new RangeError(`A mapping request carries at most ${MAX_USERS_PER_REQUEST} users (got ${rows})`);
	if (columns.length !== target.idSchema.length) throw new RangeError('One id column per idSchema entry is needed');
	// One audience_ids array shared by every slot of the request (serialised, never mutated): 10,000 fewer
	// allocations per request on the hot path.
	const audienceIds = [target.audienceId];
	const batchData = new Array<MappingSlot[]>(rows);
	for (let row = 0; row < rows; row++) {
		const slots = new Array<MappingSlot>(columns.length);
		for (let slot = 0; slot < columns.length; slot++) {
			const id = columns[slot][row];
			slots[slot] = id === undefined || id === '' ? {} : { id, audience_ids: audienceIds };
		}
		batchData[row] = slots;
	}
	return { advertiserIds: [target.advertiserId], action: target.action, idSchema: [...target.idSchema], batchData };
}

/**
 * Users (each with one id per idSchema slot) as batches of at most `usersPerRequest` (TikTok's 10,000 by default),
 * in order.
 */
export function batchesOf(
	target: MappingTarget,
	users: ReadonlyArray<{ ids: ReadonlyArray<string | undefined> }>,
	usersPerRequest = MAX_USERS_PER_REQUEST,
): MappingBatch[] {
	const size = Math.max(1, Math.min(MAX_USERS_PER_REQUEST, Math.floor(usersPerRequest)));
	const batches: MappingBatch[] = [];
	for (let start = 0; start < users.length; start += size) {
		const slice = users.slice(start, start + size);
		const columns = target.idSchema.map((_, slot) => slice.map((user) => user.ids[slot]));
		batches.push({ target, rows: slice.length, columns });
	}
	return batches;
}
