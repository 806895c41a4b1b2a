/**
 * Mirroring a list into a TikTok audience: plain TypeScript, no n8n imports. The node's Mirror List operation
 * (nodes/TikTokAudience/actions/user/mirror.operation.ts) hashes the items and calls mirrorPart under the place's lock.
 * - layout.ts: a member as fixed-width raw hash bytes;   recordSet.ts: a compact set of them;
 * - members.ts: a list's items hashed into members;
 * - compare.ts: list vs memory, and which removed identifiers other members still use;
 * - memory.ts: snapshot + log of accepted changes;       storage.ts: what a store keeps (file and Redis stores);
 * - mirror.ts: one run or part, the commit rule, parts, abandonment, safety limit;
 * - place.ts: disk in regular n8n, Redis in queue mode, and the lock of each.
 */
export * from './layout';
export * from './recordSet';
export * from './members';
export * from './compare';
export * from './memory';
export * from './storage';
export * from './mirror';
export * from './place';
export { FileMirrorStorage } from './fileStorage';
export { RedisMirrorStorage } from './redisStorage';
export { withFileLock } from './fileLock';
