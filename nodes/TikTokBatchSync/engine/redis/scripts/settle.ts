import { BASE, BLOCKING, COUNTERS, HOLD, MEMBERS, SETTLING, WAKE } from './includes';

/**
 * settle: the outcome of an attempt, applied only with the part's current token and while it is being sent, so a
 * holder whose lease lapsed (another process took the part) changes nothing, and a resent command is a no-op.
 * ARGV: token, now, member, outcome (synced | retry | errored), dueAt, holdUntil, reason, reauthorize (0/1), horizonMs.
 * Returns 1 when applied, 0 otherwise.
 */
export const SETTLE = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${HOLD}${BLOCKING}${SETTLING}
local token, now, member, outcome = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local TTL = scope_ttl(ARGV[9])
local id, act, users = parse(member)
local c = base .. 'c:' .. id
local part = redis.call('HMGET', c, act .. '.st', act .. '.tk', act .. '.f')
if part[1] ~= 'sending' or part[2] ~= token then return 0 end
redis.call('ZREM', LEASE, member)
if outcome == 'synced' then
  count('pending', -users)
  count('synced', users)
  count(act == 'd' and 'removed' or 'added', users)
  finish_part(member, now, 'synced')
  -- the token works (again): parts waiting after an authorization failure need not wait out their backoff
  local waiting = redis.call('ZRANGE', base .. 'reauth', 0, -1)
  for _, other in ipairs(waiting) do requeue(other, now) end
  if #waiting > 0 then mark_work(now) end
elseif outcome == 'errored' then
  error_part(member, ARGV[7], now)
else
  local due = tonumber(ARGV[5])
  redis.call('HSET', ckey(id), act .. '.st', 'waiting', act .. '.tk', '', act .. '.f', tonumber(part[3] or '0') + 1,
    act .. '.le', ARGV[7])
  redis.call('ZADD', RETRY, due, member)
  touch(RETRY)
  if ARGV[8] == '1' then
    redis.call('ZADD', base .. 'reauth', due, member)
    touch(base .. 'reauth')
  else
    redis.call('ZREM', base .. 'reauth', member)
  end
  local hold = tonumber(ARGV[6])
  if hold > hold_until() then
    redis.call('SET', base .. 'hold', hold)
    touch(base .. 'hold')
  end
  mark_work(math.max(due, hold_until()))
end
notify_waiters(now)
expire_touched(TTL)
return 1
`;
