import { BASE, BLOCKING, COUNTERS, MEMBERS, WAKE, WINDOW_ID_OFFSET } from './includes';

/**
 * not-synced: counts users the node refused before the engine, once per request id.
 * ARGV: request id, now, horizonMs, then one reason per user. Returns the number counted (the same when run again).
 */
export const NOT_SYNCED = `${BASE}${COUNTERS}
local done = replay(ARGV[1])
if done then return tonumber(done) end
local TTL = scope_ttl(ARGV[3])
local n = #ARGV - 3
count('entered', n)
count('notSynced', n)
-- each reason once, in the order it first appears (which reasons get the capped places does not depend on hashing)
local per, order = {}, {}
for i = 4, #ARGV do
  local reason = ARGV[i]
  if not per[reason] then order[#order + 1] = reason end
  per[reason] = (per[reason] or 0) + 1
end
for _, reason in ipairs(order) do tally('n', reason, per[reason]) end
remember_reply(ARGV[1], n)
expire_touched(TTL)
return n
`;

/**
 * import: moves a static-data journal (the in-process engine's) into Redis, once per journal (its writer and save
 * time), as split windows numbered before every window Redis has: adds and removes keep their order, and parts of
 * the scope that are queued behind them now wait for them.
 * ARGV: marker, now, horizonMs, counters JSON ({entered… without pending}), restored users, then per request: dest,
 * destJson, a|d, users, rows ("@<entered>\n" then "<flag><row>\n" each), row count, entered, failures, last error.
 * Returns 1 when imported, 0 when it was imported before.
 */
export const IMPORT = `${BASE}${COUNTERS}${MEMBERS}${WAKE}${BLOCKING}
local now = tonumber(ARGV[2])
local TTL = scope_ttl(ARGV[3])
if redis.call('SET', base .. 'mig:' .. ARGV[1], now, 'NX', 'PX', TTL) == false then return 0 end
local saved = cjson.decode(ARGV[4])
for _, field in ipairs({ 'synced', 'notSynced', 'errored', 'added', 'removed' }) do count(field, tonumber(saved[field] or 0)) end
local restored = tonumber(ARGV[5])
count('pending', restored)
count('entered', tonumber(saved.synced or 0) + tonumber(saved.notSynced or 0) + tonumber(saved.errored or 0) + restored)
for reason, k in pairs(saved.notSyncedReasons or {}) do tally('n', reason, k) end
for reason, k in pairs(saved.erroredReasons or {}) do tally('e', reason, k) end
local chunks = (#ARGV - 5) / 9
local first = redis.call('HINCRBY', CNT, 'iseq', chunks)
local touched_dests = {}
for k = 0, chunks - 1 do
  local i = 6 + k * 9
  local dest, act, users, rows = ARGV[i], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 5])
  local number = ${WINDOW_ID_OFFSET} - first + k
  local id = window_id(number)
  local pm = member_of(id, act, users, dest)
  redis.call('HSET', base .. 'dests', dest, ARGV[i + 1])
  touch(base .. 'dests')
  redis.call('SET', base .. 'r:' .. id, ARGV[i + 4])
  touch(base .. 'r:' .. id)
  redis.call('HSET', ckey(id), 'dest', dest, 'st', 'split', 'due', now, act .. '.u', users,
    act .. '.n', rows, act .. '.e', ARGV[i + 6], act .. '.f', ARGV[i + 7], act .. '.le', ARGV[i + 8])
  if ARGV[i + 8] == '' then redis.call('HDEL', base .. 'c:' .. id, act .. '.le') end
  redis.call('ZADD', base .. 'uns:' .. dest .. ':' .. act, number, pm)
  touch(base .. 'uns:' .. dest .. ':' .. act)
  if threshold(dest, act) < number then
    redis.call('HSET', base .. 'c:' .. id, act .. '.st', 'blocked')
    redis.call('ZADD', base .. 'blk:' .. dest .. ':' .. act, number, pm)
    count('blk', 1)
    touch(base .. 'blk:' .. dest .. ':' .. act)
  else
    redis.call('HSET', base .. 'c:' .. id, act .. '.st', 'queued')
    redis.call('ZADD', DUE, now, pm)
    touch(DUE)
  end
  touched_dests[dest] = true
end
-- requests of the scope queued behind an imported one now wait for it
for dest in pairs(touched_dests) do
  for _, act in ipairs({ 'a', 'd' }) do
    local limit = threshold(dest, act)
    if limit < math.huge then
      for _, pm in ipairs(redis.call('ZRANGEBYSCORE', base .. 'uns:' .. dest .. ':' .. act, '(' .. string.format('%.0f', limit), '+inf')) do
        local id = parse(pm)
        if redis.call('HGET', base .. 'c:' .. id, act .. '.st') == 'queued' then
          redis.call('ZREM', DUE, pm)
          redis.call('HSET', base .. 'c:' .. id, act .. '.st', 'blocked')
          redis.call('ZADD', base .. 'blk:' .. dest .. ':' .. act, tonumber(id), pm)
          count('blk', 1)
          touch(base .. 'blk:' .. dest .. ':' .. act)
        end
      end
    end
  end
end
mark_work(now)
expire_touched(TTL)
return 1
`;

/**
 * wait: this process has runs waiting on the scope until `until` (renewed while they wait): settles elsewhere wake it
 * through its own key. ARGV: process id, until, horizonMs.
 */
export const WAIT = `${BASE}
local TTL = scope_ttl(ARGV[3])
redis.call('ZADD', base .. 'wt', tonumber(ARGV[2]), ARGV[1])
touch(base .. 'wt')
expire_touched(TTL)
return 1
`;
