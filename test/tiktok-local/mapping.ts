import { ApiFailure, bodyIdList } from './http';
import { MAX_MAPPING_ROWS } from './seed';
import { HASH_LENGTH_BY_TYPE, MAPPING_ID_TYPES, type LocalAudience, type TikTokLocalStore } from './store';

/**
 * POST /segment/mapping/: validates the whole batch first and only then applies it, because TikTok answers for the
 * batch as a whole (data: {}) and never applies part of one. The benchmark sends ~25 bodies of 10,000 rows per
 * second, so the loops below avoid regexes, per-row allocations and repeated audience look-ups.
 */

const TYPE_INDEX = new Map<string, number>(MAPPING_ID_TYPES.map((type, index) => [type, index]));
const TYPE_PREFIX = MAPPING_ID_TYPES.map((type) => `${type}:`);

export interface MappingOutcome {
	action: 'add' | 'delete';
	rows: number;
}

export interface MappingOptions {
	/** Skip the per-character hex check and keep counts instead of member strings (for million-user benchmarks). */
	benchMode: boolean;
}

function isHex(text: string): boolean {
	for (let i = 0; i < text.length; i++) {
		const c = text.charCodeAt(i);
		// 0-9, a-f, A-F
		if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
	}
	return true;
}

function paramError(detail: string): ApiFailure {
	return new ApiFailure(40002, `Parameter error: ${detail}`);
}

/** Validates and applies one mapping request for a token whose app reaches `reachableAdvertiserIds`. */
export function applyMapping(
	store: TikTokLocalStore,
	body: Record<string, unknown>,
	reachableAdvertiserIds: ReadonlySet<string>,
	options: MappingOptions,
): MappingOutcome {
	const advertiserIds = new Set(bodyIdList(body, 'advertiser_ids'));
	for (const advertiserId of advertiserIds) {
		if (!reachableAdvertiserIds.has(advertiserId)) {
			throw new ApiFailure(40001, `No permission to operate advertiser ${advertiserId}, or it does not exist.`);
		}
	}

	const action = body.action === undefined ? 'add' : body.action;
	if (action !== 'add' && action !== 'delete') throw paramError('action must be "add" or "delete".');

	const schema = body.id_schema;
	if (!Array.isArray(schema) || schema.length === 0) throw paramError('id_schema is required and must be a non-empty array.');
	const typeIndexes: number[] = [];
	for (const entry of schema) {
		const index = typeof entry === 'string' ? TYPE_INDEX.get(entry.toUpperCase()) : undefined;
		if (index === undefined) throw paramError(`id_schema contains an unsupported type ${JSON.stringify(entry)}.`);
		if (typeIndexes.includes(index)) throw paramError(`id_schema contains ${MAPPING_ID_TYPES[index]} more than once.`);
		typeIndexes.push(index);
	}
	const width = typeIndexes.length;
	const hashLengths = typeIndexes.map((index) => HASH_LENGTH_BY_TYPE[index]);

	const rows = body.batch_data;
	if (!Array.isArray(rows) || rows.length === 0) throw paramError('batch_data is required and must be a non-empty array.');
	if (rows.length > MAX_MAPPING_ROWS) {
		throw paramError(`batch_data holds ${rows.length} users; at most ${MAX_MAPPING_ROWS} are allowed per request.`);
	}

	// Every distinct audience ID is checked once; clients usually send the same one or two in every slot.
	const audienceById = new Map<string, LocalAudience>();
	const resolveAudience = (rawId: unknown): void => {
		const id = typeof rawId === 'string' ? rawId : typeof rawId === 'number' ? String(rawId) : undefined;
		if (id === undefined) throw paramError(`invalid audience ID ${JSON.stringify(rawId)}.`);
		if (audienceById.has(id)) return;
		const audience = store.liveAudience(id);
		if (!audience || !advertiserIds.has(audience.advertiserId)) {
			throw paramError(`invalid audience ID ${id}: it does not exist, was deleted, or does not belong to advertiser_ids.`);
		}
		audienceById.set(id, audience);
	};

	const checkHex = !options.benchMode;
	for (let r = 0; r < rows.length; r++) {
		const row: unknown = rows[r];
		if (!Array.isArray(row) || row.length !== width) {
			const length = Array.isArray(row) ? row.length : 'not an array';
			throw paramError(`batch_data[${r}] has ${length} elements but id_schema has ${width}.`);
		}
		let filledSlots = 0;
		for (let s = 0; s < width; s++) {
			const slot: unknown = row[s];
			if (slot === null || typeof slot !== 'object' || Array.isArray(slot)) {
				throw paramError(`batch_data[${r}][${s}] must be an object ({} when the user lacks this identifier).`);
			}
			const { id, audience_ids: audienceIds } = slot as { id?: unknown; audience_ids?: unknown };
			if (id === undefined && audienceIds === undefined) continue;
			if (typeof id !== 'string' || id.length !== hashLengths[s] || (checkHex && !isHex(id))) {
				throw paramError(
					`batch_data[${r}][${s}].id must be a ${hashLengths[s]}-character hex hash for ${MAPPING_ID_TYPES[typeIndexes[s]]}.`,
				);
			}
			if (!Array.isArray(audienceIds) || audienceIds.length === 0) {
				throw paramError(`batch_data[${r}][${s}].audience_ids must be a non-empty array.`);
			}
			for (let a = 0; a < audienceIds.length; a++) resolveAudience(audienceIds[a]);
			filledSlots++;
		}
		if (filledSlots === 0) throw paramError(`batch_data[${r}] has no identifier; at least one slot must be filled.`);
	}

	// Everything is valid: apply.
	const now = Date.now();
	for (const audience of audienceById.values()) audience.updatedAt = now;
	const adding = action === 'add';
	for (let r = 0; r < rows.length; r++) {
		const row = rows[r] as Array<{ id?: string; audience_ids?: unknown[] }>;
		for (let s = 0; s < width; s++) {
			const slot = row[s];
			if (slot.id === undefined) continue;
			const typeIndex = typeIndexes[s];
			const audienceIds = slot.audience_ids as unknown[];
			if (options.benchMode) {
				for (let a = 0; a < audienceIds.length; a++) {
					const audience = audienceById.get(String(audienceIds[a])) as LocalAudience;
					const delta = adding ? 1 : audience.memberCountByType[typeIndex] > 0 ? -1 : 0;
					audience.memberCountByType[typeIndex] += delta;
					audience.memberCount += delta;
				}
				continue;
			}
			const member = TYPE_PREFIX[typeIndex] + slot.id.toLowerCase();
			for (let a = 0; a < audienceIds.length; a++) {
				const audience = audienceById.get(String(audienceIds[a])) as LocalAudience;
				const before = audience.members.size;
				if (adding) audience.members.add(member);
				else audience.members.delete(member);
				const delta = audience.members.size - before;
				if (delta !== 0) {
					audience.memberCountByType[typeIndex] += delta;
					audience.memberCount += delta;
				}
			}
		}
	}
	return { action, rows: rows.length };
}
