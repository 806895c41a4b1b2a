import { BASE, COUNTERS, CUTTING, HOLD, MEMBERS, WAKE, WINDOW_ID_OFFSET } from './includes';

/**
 * admit: appends a run's users (packed by the caller, one row each) to their audience's open window while the scope
 * has room (Max Pending Users, across every process). No per-user work here: the rows are appended as they came and
 * merged (duplicates, last action wins) by whoever claims the window. A window is cut when it has taken a request's
 * worth of submissions; the rows go into as many windows as that takes, cut where the caller's row ends say (never
 * by scanning the rows).
 * ARGV: request id, now, windowMs, usersPerRequest, horizonMs, maxPending, dest, destJson, rows in the batch, rows
 * ("<flag><row>\n" each), row ends ("w<bytes>": every row that long; else each row's end in bytes as a little-endian
 * 32-bit number), the horizon's reason prefix (stored with the horizon, so every process words a give-up alike). Returns "admitted full drainable wakeAt [<window id> <count>]…" (space separated), the
 * same when run again with the same request id.
 */
export const ADMIT = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${CUTTING}${HOLD}
local request, now = ARGV[1], tonumber(ARGV[2])
local done = replay(request)
if done then return done end
local window_ms, per_request, horizon, max_pending = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
local dest, count_rows, rows, ends = ARGV[7], tonumber(ARGV[9]), ARGV[10], ARGV[11]
local width = string.sub(ends, 1, 1) == 'w' and tonumber(string.sub(ends, 2)) or nil
-- the byte after row n of the batch (n from 1)
local function row_end(n)
  if width then return n * width end
  return (struct.unpack('<I4', ends, 4 * (n - 1) + 1))
end
local TTL = scope_ttl(horizon)
redis.call('HSET', base .. 'set', 'horizonMs', horizon, 'horizonReason', ARGV[12])
redis.call('HSET', base .. 'dests', dest, ARGV[8])
touch(base .. 'set')
touch(base .. 'dests')
local room = max_pending - tonumber(redis.call('HGET', CNT, 'pending') or '0')
local take = math.max(0, math.min(count_rows, room))
local placed = {}
local wake = -1
local left, position = take, 1
while left > 0 do
  local id, subs = open_window(dest)
  if id then
    local ends = tonumber(redis.call('ZSCORE', base .. 'open', id .. ':' .. dest) or '0')
    if ends <= now then
      cut(id, dest, subs, ends)
      id = nil
    end
  end
  local fresh = false
  if not id then
    id = window_id(${WINDOW_ID_OFFSET} + redis.call('HINCRBY', CNT, 'seq', 1))
    subs = 0
    fresh = true
    -- 'at': when the rows that open the string came (later submissions carry an '@<time>' line before theirs)
    redis.call('HSET', ckey(id), 'dest', dest, 'st', 'open', 'at', ARGV[2])
    redis.call('ZADD', base .. 'open', now + window_ms, id .. ':' .. dest)
    touch(base .. 'open')
    mark_work(now + window_ms)
    if wake < 0 or now + window_ms < wake then wake = now + window_ms end
  end
  local k = math.min(left, per_request - subs)
  local segment
  if position == 1 and k == count_rows then
    -- the whole batch into one window (the usual case): the argument as it came, never copied in Lua
    segment = rows
    position = #rows + 1
  elseif k == count_rows - (take - left) then
    segment = string.sub(rows, position)
    position = #rows + 1
  else
    local stop = row_end(take - left + k) + 1
    segment = string.sub(rows, position, stop - 1)
    position = stop
  end
  if fresh then
    -- a new window's string holds just these rows, written at their size (no header to concatenate, no APPEND's
    -- room to grow)
    redis.call('SET', base .. 'r:' .. id, segment)
  else
    redis.call('APPEND', base .. 'r:' .. id, '@' .. ARGV[2] .. '\\n' .. segment)
  end
  touch(base .. 'r:' .. id)
  subs = subs + k
  redis.call('HSET', base .. 'win', dest, id .. ':' .. subs)
  touch(base .. 'win')
  placed[#placed + 1] = id .. ' ' .. k
  left = left - k
  if subs >= per_request then
    cut(id, dest, subs, now)
    wake = now
  end
end
count('entered', take)
count('pending', take)
local full = take < count_rows
local drainable = 0
if full then
  -- no room: every open window goes now, and the run waits for room only if something can drain the backlog soon
  for _, open in ipairs(redis.call('ZRANGE', base .. 'open', 0, -1)) do cut_open(string.sub(open, 17), now) end
  if (now >= hold_until() and redis.call('ZCOUNT', DUE, '-inf', now) > 0) or redis.call('ZCARD', LEASE) > 0 then
    drainable = 1
  end
end
local reply = take .. ' ' .. (full and 1 or 0) .. ' ' .. drainable .. ' ' .. wake
if #placed > 0 then reply = reply .. ' ' .. table.concat(placed, ' ') end
remember_reply(request, reply)
expire_touched(TTL)
return reply
`;
