/** The identifier types TikTok's segment mapping API accepts, in the order we always send them. */
export const ID_TYPES = ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256', 'IDFA_MD5', 'AAID_SHA256', 'AAID_MD5'] as const;
export type IdType = (typeof ID_TYPES)[number];

export type MappingAction = 'add' | 'delete';

/** TikTok's segment mapping API takes at most 10,000 users per request. */
export const MAX_USERS_PER_REQUEST = 10_000;

/** One slot of a batch_data row: the hashed id and the audiences it goes to, or {} when the user lacks that type. */
export type MappingSlot = { id: string; audience_ids: string[] } | Record<string, never>;

export interface MappingRequest {
	advertiserIds: string[];
	action: MappingAction;
	idSchema: IdType[];
	/** One inner array per user; element i matches idSchema[i]. */
	batchData: MappingSlot[][];
}
