import { createHash } from 'node:crypto';

/**
 * The package's Redis keys are `<prefix>:{<tag>}:<rest>`: everything one script touches shares the `{…}` hash tag, so
 * it sits in one Redis Cluster slot. Names (audience keys, app IDs, user lists) appear only as digests.
 */

/** A short, stable digest of a name for a key (hex; 20 characters = 80 bits unless said otherwise). */
export function digest(value: string, length = 20): string {
	return createHash('sha256').update(value).digest('hex').slice(0, length);
}

/** `<prefix>:{<kind>:<digest of name>}:<suffix>`: one slot per kind and name. */
export function taggedKey(keyPrefix: string, kind: string, name: string, suffix: string): string {
	return `${keyPrefix}:{${kind}:${digest(name)}}:${suffix}`;
}
