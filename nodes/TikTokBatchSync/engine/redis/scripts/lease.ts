import { BASE, COUNTERS, HANDING_BACK, MEMBERS, WAKE } from './includes';

/**
 * renew: extends the lease of a raw window being merged or a part being sent, while the token is still its holder's.
 * ARGV: token, now, member, leaseMs. Returns 1, or 0 when the lease was lost (it lapsed and another process took it).
 */
export const RENEW = `${BASE}${MEMBERS}
local token, now, member = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local id, act = parse(member)
local c = base .. 'c:' .. id
local held
if act == 'w' then
  local w = redis.call('HMGET', c, 'st', 'tk')
  held = w[1] == 'merging' and w[2] == token
else
  local part = redis.call('HMGET', c, act .. '.st', act .. '.tk')
  held = part[1] == 'sending' and part[2] == token
end
if not held or not redis.call('ZSCORE', LEASE, member) then return 0 end
redis.call('ZADD', LEASE, now + tonumber(ARGV[4]), member)
return 1
`;

/**
 * hand-back: a claim its holder did not send (shutdown, no pacer slot within its budget): due again now, no failure
 * counted. ARGV: token, now, member, horizonMs. Returns 1 when handed back, 0 when it was not the caller's any more.
 */
export const HAND_BACK = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${HANDING_BACK}
local TTL = scope_ttl(ARGV[4])
local handed = hand_back(ARGV[3], ARGV[1], tonumber(ARGV[2]))
expire_touched(TTL)
return handed
`;
