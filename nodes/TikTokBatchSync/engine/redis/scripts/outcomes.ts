import { MAX_CHAIN } from '../../limits';
import { BASE, HOLD, MEMBERS } from './includes';

/**
 * outcomes: where the users of a waiting run stand, per (window, action) they went into. Read only.
 * ARGV: now, then (window id, a|d) pairs. Returns per pair: the status and the window's moved users ('' if none).
 * Status: 'open' (not attempted yet), 'synced', 'errored\t<reason>', 'pending\t<last error>' (scheduled: a retry, a
 * rate-limit pause, or behind an earlier request waiting for its retry), 'moved' (no request with that action: every
 * user of it took the other action), or 'gone' (the window's record expired or vanished).
 */
export const OUTCOMES = `${BASE}${HOLD}${MEMBERS}
local now = tonumber(ARGV[1])
local held = now < hold_until()
-- what holds back a part of window 'number' is waiting for its retry, directly or down a chain of held-back parts
local function behind_retry(dest, act, number)
  for _ = 1, ${MAX_CHAIN} do
    local oldest = redis.call('ZRANGE', base .. 'uns:' .. dest .. ':' .. other_of(act), 0, 0, 'WITHSCORES')
    if not oldest[1] or tonumber(oldest[2]) >= number then return false end
    local id, other = parse(oldest[1])
    local state = redis.call('HGET', base .. 'c:' .. id, other .. '.st')
    if state == 'waiting' then return true end
    if state ~= 'blocked' then return false end
    act, number = other, tonumber(oldest[2])
  end
  return false
end
local out = {}
for i = 2, #ARGV, 2 do
  local id, act = ARGV[i], ARGV[i + 1]
  local c = base .. 'c:' .. id
  local w = redis.call('HMGET', c, 'st', 'mv', 'dest')
  local result = 'open'
  if not w[1] then
    result = 'gone'
  elseif w[1] == 'split' then
    local part = redis.call('HMGET', c, act .. '.st', act .. '.o', act .. '.le')
    local state, reason = part[1], part[3] or ''
    if not state then
      result = 'moved'
    elseif state == 'done' or state == 'fenced' then
      result = part[2]
    elseif state == 'waiting' then
      result = 'pending\\t' .. reason
    elseif (state == 'queued' or state == 'blocked') and (held or (state == 'blocked' and behind_retry(w[3], act, window_number(id)))) then
      result = 'pending\\t' .. reason
    end
  elseif w[1] ~= 'open' and held then
    result = 'pending\\t'
  end
  out[#out + 1] = result
  out[#out + 1] = w[2] or ''
end
return out
`;
