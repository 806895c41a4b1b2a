import { MAX_DISTINCT_REASONS, OTHER_REASONS } from '../../counters';
import { KEY_MARGIN_MS, OUTCOME_KEEP_MS } from '../../limits';

/*
 * Pieces the scripts share, each a small Lua function (BullMQ's "includes"). Every script gets KEYS[1] = the scope's
 * key base, `<prefix>:{s:<digest>}:`; the `{…}` hash tag keeps every key built from it in one Redis Cluster slot.
 *
 * Keys under the base (a key a script writes gets the scope's TTL: the stored retry horizon + KEY_MARGIN_MS):
 *   cnt            hash    counters (entered, synced, notSynced, pending, errored, added, removed), reasons
 *                          ('n:<reason>' not synced, 'e:<reason>' errored; '#n'/'#e' how many distinct), window numbers
 *                          (seq, iseq), parts held back (blk)
 *   set            hash    the scope's settings as its last admit stored them (horizonMs, horizonReason)
 *   dests          hash    audience digest → destination JSON (advertiser, audience, id types)
 *   win            hash    audience digest → "<window id>:<submissions>" of its open window
 *   open           zset    "<open window id>:<dest>" → when it ends
 *   c:<id>         hash    a window: dest, st (open | raw | merging | split), due, tk (merge token), mv (moved users),
 *                          xa/xd (imported duplicates), at (when its first run's rows came); per part 'a.'/'d.': st
 *                          (queued | blocked | sending | waiting | done | fenced), u users, e latest entry, f failures,
 *                          le last error, tk, o outcome, hb holder's send budget, su stale until (after a takeover)
 *   r:<id>         string  the window's submissions as they came: one "<flag><row>\n" per user, each later run's
 *                          rows after an "@<time>\n" line (read by the claimer with a plain GET, never through Lua)
 *   due            zset    member → when it became due: raw windows to merge and parts to send, claimed in this order
 *   retry          zset    member → when a part waiting for its retry comes due (a claim moves it to due then)
 *   lease          zset    member → when its holder's lease ends (raw windows being merged, parts being sent)
 *   raw:<dest>     zset    windows of an audience not split yet, by number (their parts are unknown: they block)
 *   uns:<dest>:<a|d> zset  unsettled parts of an audience, by window number (fenced ones included)
 *   blk:<dest>:<a|d> zset  parts held back behind an earlier window's other action, by window number
 *   fence          zset    member → until when a taken-over part still holds the audience's other action back
 *   hold           string  after a rate-limit error nothing is sent before this time
 *   reauth         zset    parts waiting after an authorization failure (any success releases them) → due time
 *   mk             zset    the work marker: '0' → the earliest time an idle process should look (BZPOPMIN)
 *   wt / wk:<proc> zset    processes with runs waiting (→ registration end) / the wake-up of one such process
 *   rq:<id>        string  the reply of a request already applied (a command resent after a reconnect replays it)
 *   mig:<writer>   string  a static-data journal moved in already
 * A member is "<window id>:<a|d|w>:<users>:<dest>" (w: a raw window), so a request whose hash vanished (eviction,
 * deletion) can still be errored with its users and found in its audience's sets.
 */

/**
 * Window numbers count up from here (journal imports count down from it), below 10^14 so Lua's number formatting
 * (14 significant digits) never rounds one; a window's id is its number in 15 digits, so ids sort as numbers do.
 */
export const WINDOW_ID_OFFSET = 50_000_000_000_000;

/** Keys, expiry and the request-id guard. */
export const BASE = `
local base = KEYS[1]
local CNT, DUE, LEASE, RETRY = base .. 'cnt', base .. 'due', base .. 'lease', base .. 'retry'
local touched = {}
-- a key written by this script: it gets the scope's TTL at the end (expire_touched)
local function touch(key) if not touched[key] then touched[key] = 'ttl' end end
-- a key that only has to outlive the waiting runs now (a settled window's outcomes)
local function keep_briefly(key) touched[key] = 'brief' end
-- the scope's TTL: its stored retry horizon (or this caller's) plus the margin, never less
local function scope_ttl(horizon)
  local stored = tonumber(redis.call('HGET', base .. 'set', 'horizonMs') or '0')
  return math.max(stored, tonumber(horizon) or 0) + ${KEY_MARGIN_MS}
end
local function expire_touched(ttl)
  for key, how in pairs(touched) do
    if how == 'brief' then redis.call('PEXPIRE', key, ${OUTCOME_KEEP_MS}) else redis.call('PEXPIRE', key, ttl) end
  end
end
-- a request already applied (ioredis resends a command whose reply a reconnect lost): its stored reply, or nil
local function replay(request)
  return redis.call('GET', base .. 'rq:' .. request)
end
local function remember_reply(request, reply)
  redis.call('SET', base .. 'rq:' .. request, reply, 'PX', ${OUTCOME_KEEP_MS})
end
`;

/** Counters and reason tallies. */
export const COUNTERS = `
local function count(field, n)
  if n ~= 0 then redis.call('HINCRBY', CNT, field, n) touch(CNT) end
end
-- at most ${MAX_DISTINCT_REASONS} distinct reasons per kind ('n' not synced, 'e' errored), then '${OTHER_REASONS}'
local function tally(kind, reason, n)
  local field = kind .. ':' .. reason
  if redis.call('HEXISTS', CNT, field) == 0 then
    if tonumber(redis.call('HGET', CNT, '#' .. kind) or '0') >= ${MAX_DISTINCT_REASONS} then
      field = kind .. ':${OTHER_REASONS}'
    else
      redis.call('HINCRBY', CNT, '#' .. kind, 1)
    end
  end
  redis.call('HINCRBY', CNT, field, n)
  touch(CNT)
end
`;

/** Members, windows and parts. */
export const MEMBERS = `
local function window_id(number) return string.format('%015.0f', number) end
local function member_of(id, act, users, dest) return id .. ':' .. act .. ':' .. users .. ':' .. dest end
-- "<id15>:<a|d|w>:<users>:<dest>"
local function parse(member)
  local users_end = string.find(member, ':', 19, true)
  return string.sub(member, 1, 15), string.sub(member, 17, 17), tonumber(string.sub(member, 19, users_end - 1)),
    string.sub(member, users_end + 1)
end
local function window_number(id) return tonumber(id) end
local function ckey(id) touch(base .. 'c:' .. id) return base .. 'c:' .. id end
local function other_of(act) if act == 'a' then return 'd' end return 'a' end
-- a part waiting for its retry is due from 'at' on (its retry time, or now when released early)
local function requeue(member, at)
  local id, act = parse(member)
  redis.call('ZREM', RETRY, member)
  redis.call('ZREM', base .. 'reauth', member)
  redis.call('HSET', ckey(id), act .. '.st', 'queued')
  redis.call('ZADD', DUE, at, member)
  touch(DUE)
end
`;

/** Waking other processes: the work marker, and the processes with waiting runs. */
export const WAKE = `
-- work some process may claim from 'at' on (BZPOPMIN on mk wakes one idle process)
local function mark_work(at)
  local current = redis.call('ZSCORE', base .. 'mk', '0')
  if not current or tonumber(current) > at then redis.call('ZADD', base .. 'mk', at, '0') touch(base .. 'mk') end
end
-- something settled: every process with a run waiting here looks again
local function notify_waiters(now)
  local waiting = base .. 'wt'
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  for _, proc in ipairs(redis.call('ZRANGE', waiting, 0, 20)) do
    redis.call('ZADD', base .. 'wk:' .. proc, now, '0')
    touch(base .. 'wk:' .. proc)
  end
end
`;

/** Holding back: an audience's parts go in window order when their actions differ. */
export const BLOCKING = `
-- the first window number that holds 'act' back: its audience's oldest unsettled part of the other action, or its
-- oldest window not split yet (its parts are unknown)
local function threshold(dest, act)
  local t = math.huge
  local o = redis.call('ZRANGE', base .. 'uns:' .. dest .. ':' .. other_of(act), 0, 0, 'WITHSCORES')
  if o[2] then t = tonumber(o[2]) end
  local r = redis.call('ZRANGE', base .. 'raw:' .. dest, 0, 0, 'WITHSCORES')
  if r[2] and tonumber(r[2]) < t then t = tonumber(r[2]) end
  return t
end
-- parts held back that nothing earlier holds back any more become due; returns how many
local function release(dest, now)
  local released = 0
  for _, act in ipairs({ 'a', 'd' }) do
    local blk = base .. 'blk:' .. dest .. ':' .. act
    local limit = threshold(dest, act)
    -- a part waits only for parts of earlier windows (its own window's other part does not hold it back)
    local bound = limit == math.huge and '+inf' or string.format('%.0f', limit)
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', blk, '-inf', bound)) do
      local id = parse(member)
      local c = ckey(id)
      redis.call('ZREM', blk, member)
      count('blk', -1)
      redis.call('HSET', c, act .. '.st', 'queued')
      redis.call('ZADD', DUE, tonumber(redis.call('HGET', c, 'due') or now), member)
      touch(DUE)
      released = released + 1
    end
  end
  if released > 0 then mark_work(now) end
  return released
end
`;

/** A part leaves the audience's order: settled (or lost), maybe still fenced after a takeover. */
export const SETTLING = `
-- both parts of a window settled: its rows go, its outcomes stay readable a while for waiting runs
local function window_done(id)
  local c = base .. 'c:' .. id
  local s = redis.call('HMGET', c, 'a.st', 'd.st')
  if (s[1] == false or s[1] == 'done' or s[1] == 'fenced') and (s[2] == false or s[2] == 'done' or s[2] == 'fenced') then
    redis.call('DEL', base .. 'r:' .. id)
    touched[base .. 'r:' .. id] = nil
    keep_briefly(c)
  end
end
-- a part synced or errored: it stops holding its audience back, unless it was taken over from a holder whose copy
-- may still reach TikTok until 'stale until'
local function finish_part(member, now, outcome)
  local id, act, _, dest = parse(member)
  local c = ckey(id)
  local stale = tonumber(redis.call('HGET', c, act .. '.su') or '0')
  redis.call('ZREM', DUE, member)
  redis.call('ZREM', LEASE, member)
  redis.call('ZREM', RETRY, member)
  redis.call('ZREM', base .. 'reauth', member)
  if stale > now then
    redis.call('HSET', c, act .. '.st', 'fenced', act .. '.o', outcome)
    redis.call('ZADD', base .. 'fence', stale, member)
    touch(base .. 'fence')
  else
    redis.call('HSET', c, act .. '.st', 'done', act .. '.o', outcome)
    redis.call('ZREM', base .. 'uns:' .. dest .. ':' .. act, member)
    release(dest, now)
  end
  window_done(id)
end
local function error_part(member, reason, now)
  local _, _, users = parse(member)
  count('pending', -users)
  count('errored', users)
  tally('e', reason, users)
  finish_part(member, now, 'errored\\t' .. reason)
end
`;

/** Cutting a window: its submissions become a raw window, due to be merged and split into requests. */
export const CUTTING = `
local function cut(id, dest, subs, at)
  local c = ckey(id)
  redis.call('ZREM', base .. 'open', id .. ':' .. dest)
  if redis.call('HGET', base .. 'win', dest) == id .. ':' .. subs then redis.call('HDEL', base .. 'win', dest) end
  if subs == 0 then
    redis.call('DEL', c, base .. 'r:' .. id)
    touched[c] = nil
    touched[base .. 'r:' .. id] = nil
    return
  end
  redis.call('HSET', c, 'st', 'raw', 'due', at, 'subs', subs)
  redis.call('ZADD', DUE, at, member_of(id, 'w', subs, dest))
  redis.call('ZADD', base .. 'raw:' .. dest, window_number(id), id)
  touch(DUE)
  touch(base .. 'raw:' .. dest)
  mark_work(at)
end
-- the open window of an audience: id and submissions, or nil
local function open_window(dest)
  local w = redis.call('HGET', base .. 'win', dest)
  if not w then return nil, 0 end
  local colon = string.find(w, ':', 1, true)
  return string.sub(w, 1, colon - 1), tonumber(string.sub(w, colon + 1))
end
local function cut_open(dest, at)
  local id, subs = open_window(dest)
  if id then cut(id, dest, subs, at) end
end
`;

/** Hold: after a rate-limit error, nothing new is sent before this time. */
export const HOLD = `
local function hold_until() return tonumber(redis.call('GET', base .. 'hold') or '0') end
`;

/** Requests whose data vanished (eviction, deletion): their users are errored, never left pending. */
export const LOSS = `
local function lose(member, reason, now)
  local id, act, users, dest = parse(member)
  count('pending', -users)
  count('errored', users)
  tally('e', reason, users)
  redis.call('ZREM', DUE, member)
  redis.call('ZREM', LEASE, member)
  redis.call('ZREM', RETRY, member)
  redis.call('ZREM', base .. 'reauth', member)
  redis.call('ZREM', base .. 'fence', member)
  if act == 'w' then
    redis.call('ZREM', base .. 'raw:' .. dest, id)
  else
    redis.call('ZREM', base .. 'uns:' .. dest .. ':' .. act, member)
    count('blk', -redis.call('ZREM', base .. 'blk:' .. dest .. ':' .. act, member))
  end
  redis.call('DEL', base .. 'r:' .. id)
  touched[base .. 'r:' .. id] = nil
  release(dest, now)
end
`;

/** A claim its holder did not send (shutdown, no pacer slot in time, a reply lost to a reconnect): due again now. */
export const HANDING_BACK = `
local function hand_back(member, token, now)
  local id, act = parse(member)
  local c = base .. 'c:' .. id
  if act == 'w' then
    if redis.call('HGET', c, 'tk') ~= token or redis.call('HGET', c, 'st') ~= 'merging' then return 0 end
    redis.call('HSET', ckey(id), 'st', 'raw', 'tk', '')
  else
    local part = redis.call('HMGET', c, act .. '.st', act .. '.tk')
    if part[1] ~= 'sending' or part[2] ~= token then return 0 end
    redis.call('HSET', ckey(id), act .. '.st', 'queued', act .. '.tk', '')
  end
  redis.call('ZREM', LEASE, member)
  redis.call('ZADD', DUE, now, member)
  touch(DUE)
  mark_work(now)
  return 1
end
`;
