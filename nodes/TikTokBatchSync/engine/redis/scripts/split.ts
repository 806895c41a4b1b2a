import { BASE, BLOCKING, COUNTERS, HOLD, MEMBERS, SETTLING, WAKE } from './includes';

/**
 * split: a raw window its claimer has merged (duplicates folded, each user's last action) becomes up to two parts,
 * one per action. A part an earlier window of its audience holds back waits (blocked); the others are queued, and as
 * many as the caller has room for are leased to it at once (it has their rows already).
 * ARGV: token (the claim's), now, the raw window's member, leaseMs, sendBudgetMs, room, horizonMs, then for adds and
 * for removes: users, rows, latest entry; then the moved users ("<key>\t<a|d>\n"…, '' if none), the reason when
 * submissions went missing, the horizon reason's prefix and the reason when nothing was tried. Returns the actions leased to the caller ("a", "d", "a d" or ""), or "lost" when the
 * window is no longer the caller's; run again with the same token, the same answer.
 */
export const SPLIT = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${HOLD}${BLOCKING}${SETTLING}
local token, now, member = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local lease_ms, budget, room = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local TTL = scope_ttl(ARGV[7])
local done = replay(token .. ':s')
if done then return done end
local id, _, subs, dest = parse(member)
local c = base .. 'c:' .. id
local w = redis.call('HMGET', c, 'st', 'tk', 'xa', 'xd', 'due')
if w[1] ~= 'merging' or w[2] ~= token then return 'lost' end
redis.call('ZREM', LEASE, member)
redis.call('ZREM', base .. 'raw:' .. dest, id)
redis.call('HSET', ckey(id), 'st', 'split', 'mv', ARGV[14])
local number, due, hold = window_number(id), tonumber(w[5] or now), hold_until()
local parts = { a = { users = tonumber(ARGV[8]) + tonumber(w[3] or '0'), rows = tonumber(ARGV[9]), entered = ARGV[10] },
  d = { users = tonumber(ARGV[11]) + tonumber(w[4] or '0'), rows = tonumber(ARGV[12]), entered = ARGV[13] } }
-- submissions the merge did not find (rows lost from Redis) are errored rather than left pending
local missing = subs - tonumber(ARGV[8]) - tonumber(ARGV[11])
if missing > 0 then
  count('pending', -missing)
  count('errored', missing)
  tally('e', ARGV[15], missing)
end
local horizon = tonumber(redis.call('HGET', base .. 'set', 'horizonMs') or ARGV[7])
local horizon_reason = redis.call('HGET', base .. 'set', 'horizonReason') or ARGV[16]
local leased = {}
-- both parts exist before either is settled (an error below must not find the window finished)
for _, act in ipairs({ 'a', 'd' }) do
  local part = parts[act]
  if part.rows > 0 then
    part.member = member_of(id, act, part.users, dest)
    redis.call('HSET', c, act .. '.u', part.users, act .. '.n', part.rows, act .. '.e', part.entered, act .. '.f', 0,
      act .. '.st', 'queued')
    redis.call('ZADD', base .. 'uns:' .. dest .. ':' .. act, number, part.member)
    touch(base .. 'uns:' .. dest .. ':' .. act)
  end
end
for _, act in ipairs({ 'a', 'd' }) do
  local part = parts[act]
  local pm = part.member
  if pm then
    if threshold(dest, act) < number then
      redis.call('HSET', c, act .. '.st', 'blocked')
      redis.call('ZADD', base .. 'blk:' .. dest .. ':' .. act, number, pm)
      count('blk', 1)
      touch(base .. 'blk:' .. dest .. ':' .. act)
    elseif now >= tonumber(part.entered) + horizon then
      -- cut long ago and only now split (a rate-limit pause): past the horizon before any attempt
      error_part(pm, horizon_reason .. ARGV[17], now)
    elseif #leased < room and now >= hold then
      redis.call('HSET', c, act .. '.st', 'sending', act .. '.tk', token, act .. '.hb', budget)
      redis.call('ZADD', LEASE, now + lease_ms, pm)
      touch(LEASE)
      leased[#leased + 1] = act
    else
      redis.call('ZADD', DUE, due, pm)
      touch(DUE)
      mark_work(math.max(due, hold))
    end
  end
end
window_done(id)
release(dest, now)
notify_waiters(now)
local reply = table.concat(leased, ' ')
remember_reply(token .. ':s', reply)
expire_touched(TTL)
return reply
`;
