import { FENCE_MARGIN_MS } from '../../limits';
import { BASE, BLOCKING, COUNTERS, CUTTING, HANDING_BACK, HOLD, LOSS, MEMBERS, SETTLING, WAKE } from './includes';

/** Lapsed leases, passed fences and ripe windows handled per claim, and requests errored on the way, at most. */
export const STEPS = 20;

/**
 * claim: takes back requests whose holder's lease lapsed (they may still reach TikTok from the old holder until its
 * lease's end plus its send budget: until then they keep fencing their audience's other action), lets fences that
 * passed go, cuts windows that ended, moves retries that came due into the queue (or errors them past the horizon),
 * and leases the first due request: a raw window (the caller merges it and
 * calls split) or a part to send. Requests past the retry horizon, or whose data vanished, are errored on the way.
 * Every step is bounded.
 * ARGV: token (new per call), now, leaseMs, sendBudgetMs, horizonMs, horizon reason prefix, reason when nothing was
 * tried, reason when the data vanished. Returns {'raw', member, destJson, at, xa, xd}, {'part', member,
 * destJson, at, failures, entered, lastError} (at: when the rows that open the window's string came), or {'idle', next time worth a look (-1: none), 1 if something changed}. The rows
 * (r:<id>) are not in the reply: the caller reads them with a plain GET (a window's rows never change once it is
 * cut, and a string passed through Lua costs Redis several copies of it). Run again with the same token (a resent
 * command), it hands back what the first run took and says idle.
 */
export const CLAIM = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${HOLD}${BLOCKING}${SETTLING}${CUTTING}${LOSS}${HANDING_BACK}
local token, now, lease_ms, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local TTL = scope_ttl(ARGV[5])
local taken = replay(token)
if taken then
  hand_back(taken, token, now)
  expire_touched(TTL)
  return { 'idle', now, 1 }
end
local horizon = tonumber(redis.call('HGET', base .. 'set', 'horizonMs') or ARGV[5])
-- the stored horizon's wording, not the caller's (a process on other settings must not name another horizon)
local horizon_reason = redis.call('HGET', base .. 'set', 'horizonReason') or ARGV[6]
local changed = 0
-- holders that stopped renewing: their requests are due again, fenced until the old copy cannot arrive any more
local lapsed = redis.call('ZRANGEBYSCORE', LEASE, '-inf', now, 'WITHSCORES', 'LIMIT', 0, ${STEPS})
for i = 1, #lapsed, 2 do
  local member, ended = lapsed[i], tonumber(lapsed[i + 1])
  local id, act = parse(member)
  local c = ckey(id)
  redis.call('ZREM', LEASE, member)
  if act == 'w' then
    redis.call('HSET', c, 'st', 'raw', 'tk', '')
  else
    local part = redis.call('HMGET', c, act .. '.hb', act .. '.su')
    local stale = math.max(tonumber(part[2] or '0'), ended + tonumber(part[1] or '0') + ${FENCE_MARGIN_MS})
    redis.call('HSET', c, act .. '.st', 'queued', act .. '.tk', '', act .. '.su', stale)
  end
  redis.call('ZADD', DUE, now, member)
  touch(DUE)
  changed = 1
end
local fences = redis.call('ZRANGEBYSCORE', base .. 'fence', '-inf', now, 'LIMIT', 0, ${STEPS})
for _, member in ipairs(fences) do
  local id, act, _, dest = parse(member)
  redis.call('ZREM', base .. 'fence', member)
  redis.call('ZREM', base .. 'uns:' .. dest .. ':' .. act, member)
  local c = ckey(id)
  if redis.call('HGET', c, act .. '.st') == 'fenced' then redis.call('HSET', c, act .. '.st', 'done') end
  release(dest, now)
  window_done(id)
  changed = 1
end
local ripe = redis.call('ZRANGEBYSCORE', base .. 'open', '-inf', now, 'WITHSCORES', 'LIMIT', 0, ${STEPS})
for i = 1, #ripe, 2 do
  local id, dest = string.sub(ripe[i], 1, 15), string.sub(ripe[i], 17)
  local open, subs = open_window(dest)
  if open == id then cut(id, dest, subs, tonumber(ripe[i + 1])) else redis.call('ZREM', base .. 'open', ripe[i]) end
  changed = 1
end
-- retries that came due: errored past the horizon, or due to be sent from their retry time on
local retries = redis.call('ZRANGEBYSCORE', RETRY, '-inf', now, 'WITHSCORES', 'LIMIT', 0, ${STEPS})
for i = 1, #retries, 2 do
  local member = retries[i]
  local id, act = parse(member)
  local part = redis.call('HMGET', base .. 'c:' .. id, act .. '.e', act .. '.le')
  if not part[1] then
    lose(member, ARGV[8], now)
  elseif now >= tonumber(part[1]) + horizon then
    error_part(member, horizon_reason .. (part[2] or ARGV[7]), now)
  else
    requeue(member, tonumber(retries[i + 1]))
  end
  changed = 1
end
local hold = hold_until()
if now >= hold then
  for _ = 1, ${STEPS} do
    local first = redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, 1)[1]
    if not first then break end
    local id, act, _, dest = parse(first)
    local c = base .. 'c:' .. id
    local rows = redis.call('EXISTS', base .. 'r:' .. id) == 1
    if act == 'w' then
      local w = redis.call('HMGET', c, 'st', 'xa', 'xd', 'at')
      if not rows or w[1] ~= 'raw' then
        lose(first, ARGV[8], now)
        changed = 1
      else
        redis.call('ZREM', DUE, first)
        redis.call('HSET', ckey(id), 'st', 'merging', 'tk', token)
        redis.call('ZADD', LEASE, now + lease_ms, first)
        touch(LEASE)
        remember_reply(token, first)
        if redis.call('ZCOUNT', DUE, '-inf', now) > 0 then mark_work(now) end
        expire_touched(TTL)
        return { 'raw', first, redis.call('HGET', base .. 'dests', dest), w[4] or '0', w[2] or '0', w[3] or '0' }
      end
    else
      local part = redis.call('HMGET', c, act .. '.st', act .. '.e', act .. '.f', act .. '.le', 'at')
      if not rows or not part[2] then
        lose(first, ARGV[8], now)
        changed = 1
      elseif now >= tonumber(part[2]) + horizon then
        error_part(first, horizon_reason .. (part[4] or ARGV[7]), now)
        changed = 1
      else
        redis.call('ZREM', DUE, first)
        redis.call('HSET', ckey(id), act .. '.st', 'sending', act .. '.tk', token, act .. '.hb', budget)
        redis.call('ZADD', LEASE, now + lease_ms, first)
        touch(LEASE)
        remember_reply(token, first)
        if redis.call('ZCOUNT', DUE, '-inf', now) > 0 then mark_work(now) end
        expire_touched(TTL)
        return { 'part', first, redis.call('HGET', base .. 'dests', dest), part[5] or '0', part[3] or '0', part[2], part[4] or '' }
      end
    end
  end
end
-- nothing to take now: when to look again
local next = math.huge
local function consider(t) if t and t < next then next = t end end
local function first_score(key, min)
  local r = redis.call('ZRANGEBYSCORE', key, min, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  return r[2] and tonumber(r[2]) or nil
end
local due_later = first_score(DUE, '(' .. ARGV[2])
if due_later then consider(math.max(due_later, hold)) end
if redis.call('ZCOUNT', DUE, '-inf', now) > 0 then consider(math.max(now, hold)) end
consider(first_score(RETRY, '-inf'))
consider(first_score(base .. 'open', '-inf'))
consider(first_score(LEASE, '-inf'))
consider(first_score(base .. 'fence', '-inf'))
if next == math.huge then
  -- nothing anywhere, yet users pending: their data vanished (nothing could ever settle them)
  local counts = redis.call('HMGET', CNT, 'pending', 'blk')
  local pending = tonumber(counts[1] or '0')
  if pending > 0 and tonumber(counts[2] or '0') <= 0 and redis.call('ZCARD', DUE) == 0 and redis.call('ZCARD', RETRY) == 0 then
    count('pending', -pending)
    count('errored', pending)
    tally('e', ARGV[8], pending)
    changed = 1
  end
  next = -1
end
expire_touched(TTL)
return { 'idle', next, changed }
`;
