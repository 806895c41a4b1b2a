import type { IdType } from '../../shared/transport/types';
import type { Destination, SyncUser } from './types';

/**
 * The id_schema types (TikTok's, from the transport's IdType). A Record over the type, so the compiler fails here if
 * the transport adds or drops one: the engine imports no runtime value from nodes/shared.
 */
const KNOWN_ID_TYPES: Readonly<Record<IdType, true>> = {
	EMAIL_SHA256: true,
	PHONE_SHA256: true,
	IDFA_SHA256: true,
	IDFA_MD5: true,
	AAID_SHA256: true,
	AAID_MD5: true,
};

/** Whether `value` is a destination the engine can send to (a submit's, or one read back from a journal). */
export function isDestination(value: unknown): value is Destination {
	const d = value as Partial<Destination> | null | undefined;
	return (
		typeof d === 'object' &&
		d !== null &&
		typeof d.advertiserId === 'string' &&
		d.advertiserId !== '' &&
		typeof d.audienceId === 'string' &&
		d.audienceId !== '' &&
		(d.action === 'add' || d.action === 'delete') &&
		Array.isArray(d.idSchema) &&
		d.idSchema.length > 0 &&
		d.idSchema.every((type) => Object.prototype.hasOwnProperty.call(KNOWN_ID_TYPES, type))
	);
}

export function checkDestination(destination: Destination): void {
	if (!isDestination(destination)) {
		throw new TypeError(
			'Batch Sync destination needs an advertiserId, an audienceId, action add|delete and an idSchema of known id types',
		);
	}
}

/** Throws TypeError on malformed users (wrong number of ids, a user without any id) before anything is accepted. */
export function checkUsers(users: ReadonlyArray<SyncUser>, slots: number): void {
	for (let index = 0; index < users.length; index++) {
		const { key, ids } = users[index];
		if (typeof key !== 'string' || !Array.isArray(ids) || ids.length !== slots) {
			throw new TypeError(`Batch Sync user ${index} needs a string key and exactly ${slots} id slot(s)`);
		}
		let hasId = false;
		for (const id of ids) {
			if (id === undefined || id === '') continue;
			if (typeof id !== 'string') throw new TypeError(`Batch Sync user ${index} has a non-string id`);
			hasId = true;
		}
		if (!hasId) throw new TypeError(`Batch Sync user ${index} has no id: count it as not synced instead`);
	}
}
