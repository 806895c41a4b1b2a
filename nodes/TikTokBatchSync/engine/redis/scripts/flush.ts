import { BASE, COUNTERS, CUTTING, HOLD, MEMBERS, WAKE } from './includes';

/** cut: ends every open window of the scope now (Flush & Report). ARGV: now, horizonMs. */
export const CUT_ALL = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${CUTTING}
local now = tonumber(ARGV[1])
local TTL = scope_ttl(ARGV[2])
for _, open in ipairs(redis.call('ZRANGE', base .. 'open', 0, -1)) do cut_open(string.sub(open, 17), now) end
expire_touched(TTL)
return 1
`;

/**
 * busy: whether something of the scope is being sent (leased), or may be claimed now (due, and no rate-limit pause):
 * a flush waits until it is not. Parts held back by an earlier request wait in their own sets, so this is a few
 * cheap counts whatever the backlog. ARGV: now. Returns 1 or 0.
 */
export const BUSY = `${BASE}${HOLD}
local now = tonumber(ARGV[1])
if redis.call('ZCARD', LEASE) > 0 then return 1 end
if now < hold_until() then return 0 end
if redis.call('ZCOUNT', DUE, '-inf', now) > 0 or redis.call('ZCOUNT', RETRY, '-inf', now) > 0 then return 1 end
return 0
`;

/**
 * probe: a newer credential arrived; the part waiting after an authorization failure that is due first becomes due
 * now (the others follow its success). ARGV: now, horizonMs. Returns 1 if one was released.
 */
export const PROBE = `${BASE}${COUNTERS}${MEMBERS}${WAKE}
local now = tonumber(ARGV[1])
local TTL = scope_ttl(ARGV[2])
local first = redis.call('ZRANGE', base .. 'reauth', 0, 0)[1]
if not first or not redis.call('ZSCORE', RETRY, first) then return 0 end
requeue(first, now)
mark_work(now)
expire_touched(TTL)
return 1
`;
