/*
 * The Redis engine's Lua scripts: every change to a scope's state is one of these, atomic on the Redis server, so
 * any number of n8n processes can share one scope. KEYS[1] is the scope's key base, `<prefix>:{s:<digest>}:`; the
 * `{…}` hash tag puts every key a script builds from it in one Redis Cluster slot.
 *
 * Keys under the base (all expire TTL ms after their last write; a settled chunk's key is deleted at once):
 *   cnt            hash  counters: entered, synced, notSynced, pending, errored, added, removed
 *   rns / rer      hash  not-synced / errored users per reason (at most 25 reasons, then "(other reasons)")
 *   set            hash  the scope's settings (windowMs, horizonMs), for processes that only dispatch
 *   dests          hash  destination id → destination JSON (advertiser, audience, id types)
 *   wseq           hash  destination id → number of its latest window
 *   open           zset  destination id → when its open window opened
 *   wlast          hash  destination id → latest entry into its open window
 *   w:<dest>       hash  the open window: user key → "<submissions>\t<a|d>\t<order>\t<id>\t<id>…" (hashed ids only)
 *   word           hash  destination id → users entered into its open window so far (their order)
 *   c:<chunk>      hash  a request: dest, act, seq, rows ("\n"-joined), n, users, entered, failures, state, token…
 *   due            zset  chunk → when it may be sent (queued and waiting-for-retry chunks)
 *   lease          zset  chunk → when the lease of the process sending it ends
 *   uns:<dest>:<a|d> zset unsettled chunks per audience and action, by window: adds and removes keep their order
 *   hold           str   after a rate-limit error nothing is sent before this time
 *   reauth         set   chunks waiting after an authorization failure (released by any success)
 *   done / donet   hash / zset  chunk → its latest attempt's outcome (and when), an hour, for runs waiting for delivery
 *   mig:<writer>   str   a static-data journal moved in already
 * A chunk id is `<dest>:<window>:<a|d>`: a window is cut when it holds a full request, so it makes at most one
 * request per action, and a waiting run finds its users' request from what it was told at admission.
 */

const COMMON = `
local base = KEYS[1]
local TTL = tonumber(ARGV[2])
local function touch(key) redis.call('PEXPIRE', key, TTL) end
local function tally(hash, reason, n)
  if redis.call('HEXISTS', hash, reason) == 0 and redis.call('HLEN', hash) >= 25 then reason = '(other reasons)' end
  redis.call('HINCRBY', hash, reason, n)
  touch(hash)
end
local function count(field, n)
  redis.call('HINCRBY', base .. 'cnt', field, n)
end
local function cut(dest, now)
  local wkey = base .. 'w:' .. dest
  local seq = redis.call('HGET', base .. 'wseq', dest)
  local last = redis.call('HGET', base .. 'wlast', dest) or now
  local entries = redis.call('HGETALL', wkey)
  -- rows go out in the order their users first entered: placed by their position, then gathered (no sort)
  local placed = { a = {}, d = {} }
  local users = { a = 0, d = 0 }
  local last_position = 0
  for i = 2, #entries, 2 do
    local v = entries[i]
    local p1 = string.find(v, '\t', 1, true)
    local p2 = string.find(v, '\t', p1 + 1, true)
    local p3 = string.find(v, '\t', p2 + 1, true)
    local act = string.sub(v, p1 + 1, p2 - 1)
    local position = tonumber(string.sub(v, p2 + 1, p3 - 1))
    users[act] = users[act] + tonumber(string.sub(v, 1, p1 - 1))
    placed[act][position] = string.sub(v, p3 + 1)
    if position > last_position then last_position = position end
  end
  local rows = { a = {}, d = {} }
  for _, act in ipairs({ 'a', 'd' }) do
    local from, to = placed[act], rows[act]
    for position = 1, last_position do
      local row = from[position]
      if row then to[#to + 1] = row end
    end
  end
  for _, act in ipairs({ 'a', 'd' }) do
    if #rows[act] > 0 then
      local id = dest .. ':' .. seq .. ':' .. act
      local ckey = base .. 'c:' .. id
      redis.call('HSET', ckey, 'dest', dest, 'act', act, 'seq', seq, 'rows', table.concat(rows[act], '\\n'),
        'n', #rows[act], 'users', users[act], 'entered', last, 'failures', 0, 'state', 'queued')
      touch(ckey)
      redis.call('ZADD', base .. 'due', now, id)
      touch(base .. 'due')
      local uns = base .. 'uns:' .. dest .. ':' .. act
      redis.call('ZADD', uns, tonumber(seq), id)
      touch(uns)
    end
  end
  redis.call('DEL', wkey)
  redis.call('ZREM', base .. 'open', dest)
  redis.call('HDEL', base .. 'wlast', dest)
  redis.call('HDEL', base .. 'word', dest)
end
local function cut_due(now, window_ms)
  local ripe = redis.call('ZRANGEBYSCORE', base .. 'open', '-inf', now - window_ms)
  for _, dest in ipairs(ripe) do cut(dest, now) end
end
local function hold_until()
  return tonumber(redis.call('GET', base .. 'hold') or '0')
end
-- the oldest unsettled chunk of the other action, when it is from an earlier window: 'id' must wait for it
local function blocker(dest, act, seq)
  local other = act == 'a' and 'd' or 'a'
  local oldest = redis.call('ZRANGE', base .. 'uns:' .. dest .. ':' .. other, 0, 0, 'WITHSCORES')
  if oldest[1] and tonumber(oldest[2]) < tonumber(seq) then return oldest[1] end
  return nil
end
-- held back: behind an earlier chunk of the other action that waits for a retry, directly or down a chain
local function held_back(dest, act, seq, depth)
  local b = blocker(dest, act, seq)
  if not b or depth > 50 then return false end
  local bc = redis.call('HMGET', base .. 'c:' .. b, 'state', 'seq')
  if bc[1] == 'waiting' then return true end
  if bc[1] == 'queued' then return held_back(dest, act == 'a' and 'd' or 'a', bc[2], depth + 1) end
  return false
end
local function forget(id, dest, act)
  redis.call('DEL', base .. 'c:' .. id)
  redis.call('ZREM', base .. 'due', id)
  redis.call('ZREM', base .. 'lease', id)
  redis.call('SREM', base .. 'reauth', id)
  redis.call('ZREM', base .. 'uns:' .. dest .. ':' .. act, id)
end
-- outcomes are kept an hour for waiting runs, then pruned (a few at each record)
local function record_done(id, outcome)
  local now_ms = tonumber(ARGV[1])
  redis.call('HSET', base .. 'done', id, outcome)
  redis.call('ZADD', base .. 'donet', now_ms, id)
  for _, old in ipairs(redis.call('ZRANGEBYSCORE', base .. 'donet', '-inf', now_ms - 3600000, 'LIMIT', 0, 20)) do
    redis.call('HDEL', base .. 'done', old)
    redis.call('ZREM', base .. 'donet', old)
  end
  touch(base .. 'done')
  touch(base .. 'donet')
end
local function error_chunk(id, reason)
  local ckey = base .. 'c:' .. id
  local c = redis.call('HMGET', ckey, 'dest', 'act', 'users')
  local users = tonumber(c[3])
  count('pending', -users)
  count('errored', users)
  tally(base .. 'rer', reason, users)
  forget(id, c[1], c[2])
  record_done(id, 'errored\\t' .. reason)
end
local function touch_scope()
  for _, k in ipairs({ 'cnt', 'set', 'dests', 'wseq', 'open', 'wlast', 'word', 'due', 'lease', 'hold', 'reauth', 'rns' }) do
    touch(base .. k)
  end
end
`;

/**
 * admit: puts users into their audience's open window while the scope has room (Max Pending Users, counted across
 * every process). ARGV: now, ttl, windowMs, usersPerRequest, horizonMs, maxPending, dest, destJson, default action,
 * then (key, action or '', row) per user. Returns {admitted, drainable, window of each admitted user…}.
 */
export const ADMIT = `${COMMON}
local now = tonumber(ARGV[1])
local window_ms, per_request, max_pending = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6])
local dest, default_act = ARGV[7], ARGV[9]
redis.call('HSET', base .. 'set', 'windowMs', ARGV[3], 'horizonMs', ARGV[5])
redis.call('HSET', base .. 'dests', dest, ARGV[8])
local pending = tonumber(redis.call('HGET', base .. 'cnt', 'pending') or '0')
local room = max_pending - pending
local wkey = base .. 'w:' .. dest
local out = { 0, 0 }
local admitted = 0
-- The open window's number, users so far and their count are read once and written back once: two commands per
-- user (read the user's row, write it), whatever the batch size.
local seq, order, size = nil, 0, 0
if redis.call('ZSCORE', base .. 'open', dest) then
  seq = tonumber(redis.call('HGET', base .. 'wseq', dest))
  order = tonumber(redis.call('HGET', base .. 'word', dest) or '0')
  size = redis.call('HLEN', wkey)
end
local function save_window()
  redis.call('HSET', base .. 'word', dest, order)
  redis.call('HSET', base .. 'wlast', dest, now)
end
for i = 10, #ARGV, 3 do
  if room <= 0 then break end
  if not seq then
    seq = redis.call('HINCRBY', base .. 'wseq', dest, 1)
    redis.call('ZADD', base .. 'open', now, dest)
    order, size = 0, 0
  end
  local key, act = ARGV[i], ARGV[i + 1]
  if act == '' then act = default_act end
  local previous = redis.call('HGET', wkey, key)
  local submissions, position = 1, nil
  if previous then
    local p1 = string.find(previous, '\t', 1, true)
    local p2 = string.find(previous, '\t', p1 + 1, true)
    local p3 = string.find(previous, '\t', p2 + 1, true)
    submissions = tonumber(string.sub(previous, 1, p1 - 1)) + 1
    position = string.sub(previous, p2 + 1, p3 - 1)
  else
    order = order + 1
    size = size + 1
    position = order
  end
  redis.call('HSET', wkey, key, submissions .. '\t' .. act .. '\t' .. position .. '\t' .. ARGV[i + 2])
  out[#out + 1] = seq
  admitted = admitted + 1
  room = room - 1
  if size >= per_request then
    save_window()
    cut(dest, now)
    seq = nil
  end
end
if seq and admitted > 0 then save_window() end
touch(wkey)
count('entered', admitted)
count('pending', admitted)
cut_due(now, window_ms)
out[1] = admitted
if now >= hold_until() and (redis.call('ZCOUNT', base .. 'due', '-inf', now) > 0 or redis.call('ZCARD', base .. 'lease') > 0) then
  out[2] = 1
end
touch_scope()
return out
`;

/**
 * claim: cuts ripe windows, errors chunks past the retry horizon, takes back chunks whose lease ended, and leases
 * the first due chunk that no earlier chunk of its audience holds back. ARGV: now, ttl, leaseMs, token, horizon
 * reason prefix, reason when nothing was tried. Returns {'claimed', id, destJson, act, rows, n, users, failures,
 * entered, lastError} or {'idle', next time worth looking again (or -1)}.
 */
export const CLAIM = `${COMMON}
local now, lease_ms, token = tonumber(ARGV[1]), tonumber(ARGV[3]), ARGV[4]
local settings = redis.call('HMGET', base .. 'set', 'windowMs', 'horizonMs')
local window_ms, horizon_ms = tonumber(settings[1] or '5000'), tonumber(settings[2] or '46800000')
cut_due(now, window_ms)
-- a process that died mid-send: its chunk is due again (at least once to TikTok; counted once, see settle)
for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'lease', '-inf', now)) do
  redis.call('ZREM', base .. 'lease', id)
  redis.call('HSET', base .. 'c:' .. id, 'state', 'queued', 'token', '')
  redis.call('ZADD', base .. 'due', now, id)
end
local hold = hold_until()
local function next_time()
  local next = -1
  local function consider(t) if t and (next < 0 or t < next) then next = t end end
  local d = redis.call('ZRANGEBYSCORE', base .. 'due', '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if d[2] then consider(math.max(tonumber(d[2]), hold)) end
  local o = redis.call('ZRANGE', base .. 'open', 0, 0, 'WITHSCORES')
  if o[2] then consider(tonumber(o[2]) + window_ms) end
  local l = redis.call('ZRANGE', base .. 'lease', 0, 0, 'WITHSCORES')
  if l[2] then consider(tonumber(l[2])) end
  if hold > now and redis.call('ZCOUNT', base .. 'due', '-inf', now) > 0 then consider(hold) end
  return next
end
local offset = 0
while true do
  local ids = redis.call('ZRANGEBYSCORE', base .. 'due', '-inf', now, 'LIMIT', offset, 50)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local ckey = base .. 'c:' .. id
    local c = redis.call('HMGET', ckey, 'dest', 'act', 'seq', 'entered', 'lastError', 'state')
    if not c[1] then
      redis.call('ZREM', base .. 'due', id)
    elseif now >= tonumber(c[4]) + horizon_ms then
      error_chunk(id, ARGV[5] .. (c[5] or ARGV[6]))
    elseif now >= hold and not blocker(c[1], c[2], c[3]) then
      redis.call('ZREM', base .. 'due', id)
      redis.call('HSET', ckey, 'state', 'sending', 'token', token)
      redis.call('ZADD', base .. 'lease', now + lease_ms, id)
      touch_scope()
      local f = redis.call('HMGET', ckey, 'rows', 'n', 'users', 'failures')
      return { 'claimed', id, redis.call('HGET', base .. 'dests', c[1]), c[2], f[1], f[2], f[3], f[4], c[4], c[5] or '' }
    else
      offset = offset + 1
    end
  end
end
touch_scope()
return { 'idle', next_time() }
`;

/** cut: ends every open window now (Flush & Report). ARGV: now, ttl. */
export const CUT_ALL = `${COMMON}
local now = tonumber(ARGV[1])
for _, dest in ipairs(redis.call('ZRANGE', base .. 'open', 0, -1)) do cut(dest, now) end
touch_scope()
return 1
`;

/** renew: extends the lease of a chunk still being sent. ARGV: now, ttl, id, token, leaseMs. Returns 1, or 0 if lost. */
export const RENEW = `${COMMON}
local id, token = ARGV[3], ARGV[4]
if redis.call('HGET', base .. 'c:' .. id, 'token') ~= token then return 0 end
redis.call('ZADD', base .. 'lease', tonumber(ARGV[1]) + tonumber(ARGV[5]), id)
return 1
`;

/**
 * settle: the outcome of an attempt, applied only with the chunk's current token (a process whose lease ended and
 * whose chunk another process took counts nothing). ARGV: now, ttl, id, token, outcome (synced|retry|errored),
 * dueAt, holdUntil, reason, reauth (0/1), failures. Returns 1 when applied, 0 for a stale token.
 */
export const SETTLE = `${COMMON}
local now, id, token, outcome = tonumber(ARGV[1]), ARGV[3], ARGV[4], ARGV[5]
local ckey = base .. 'c:' .. id
local c = redis.call('HMGET', ckey, 'dest', 'act', 'users', 'token', 'state')
if not c[1] or c[4] ~= token or c[5] ~= 'sending' then return 0 end
local users = tonumber(c[3])
if outcome == 'synced' then
  count('pending', -users)
  count('synced', users)
  count(c[2] == 'd' and 'removed' or 'added', users)
  forget(id, c[1], c[2])
  record_done(id, 'synced')
  -- the token works (again): chunks waiting after an authorization failure need not wait out their backoff
  for _, waiting in ipairs(redis.call('SMEMBERS', base .. 'reauth')) do
    if redis.call('ZSCORE', base .. 'due', waiting) then redis.call('ZADD', base .. 'due', now, waiting) end
  end
  redis.call('DEL', base .. 'reauth')
elseif outcome == 'errored' then
  error_chunk(id, ARGV[8])
else
  redis.call('ZREM', base .. 'lease', id)
  redis.call('HSET', ckey, 'state', 'waiting', 'token', '', 'failures', ARGV[10], 'lastError', ARGV[8])
  redis.call('ZADD', base .. 'due', tonumber(ARGV[6]), id)
  if ARGV[9] == '1' then redis.call('SADD', base .. 'reauth', id) else redis.call('SREM', base .. 'reauth', id) end
  local hold = tonumber(ARGV[7])
  if hold > hold_until() then redis.call('SET', base .. 'hold', hold, 'PX', TTL) end
  record_done(id, 'pending\\t' .. ARGV[8])
end
touch_scope()
return 1
`;

/**
 * probe: a newer credential arrived; one chunk waiting after an authorization failure is made due now (the others
 * follow on its success). ARGV: now, ttl. Returns 1 if one was released.
 */
export const PROBE = `${COMMON}
local now = tonumber(ARGV[1])
local best, best_due = nil, nil
for _, id in ipairs(redis.call('SMEMBERS', base .. 'reauth')) do
  local due = redis.call('ZSCORE', base .. 'due', id)
  if due and (not best_due or tonumber(due) < best_due) then best, best_due = id, tonumber(due) end
end
if best and best_due > now then redis.call('ZADD', base .. 'due', now, best) return 1 end
return 0
`;

/**
 * outcomes: where the users of a waiting run stand. ARGV: now, ttl, then (dest, window, action) per request the run's
 * users went into. Returns one string each: 'open' (not attempted yet), 'synced', 'errored\\t<reason>',
 * 'pending\\t<reason>' (scheduled: a retry, a rate-limit pause, or behind an earlier request waiting for a retry),
 * or 'moved' (no request with that action: a later action for the same users took them).
 */
export const OUTCOMES = `${COMMON}
local now = tonumber(ARGV[1])
local hold = hold_until()
local out = {}
for i = 3, #ARGV, 3 do
  local dest, seq, act = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local id = dest .. ':' .. seq .. ':' .. act
  local done = redis.call('HGET', base .. 'done', id)
  local result = 'open'
  if done then
    result = done
  else
    local c = redis.call('HMGET', base .. 'c:' .. id, 'state', 'lastError', 'seq')
    if c[1] then
      if c[1] == 'queued' then
        local b = blocker(dest, act, c[3])
        if now < hold then
          result = 'pending\\t' .. (c[2] or '')
        elseif b and redis.call('HGET', base .. 'c:' .. b, 'state') == 'waiting' then
          result = 'pending\\t' .. (c[2] or '')
        end
      end
    elseif not (redis.call('ZSCORE', base .. 'open', dest) and redis.call('HGET', base .. 'wseq', dest) == seq) then
      result = 'moved'
    end
  end
  out[#out + 1] = result
end
return out
`;

/**
 * busy: how much of the scope is being sent or may be sent now (Flush & Report waits for it to reach 0).
 * ARGV: now, ttl. Returns {due now and not held back, leased}.
 */
export const BUSY = `${COMMON}
local now = tonumber(ARGV[1])
local ready = 0
if now >= hold_until() then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', base .. 'due', '-inf', now)) do
    local c = redis.call('HMGET', base .. 'c:' .. id, 'dest', 'act', 'seq')
    if c[1] and not held_back(c[1], c[2], c[3], 0) then ready = ready + 1 end
  end
end
return { ready, redis.call('ZCARD', base .. 'lease') }
`;

/** not-synced: counts users the node refused before the engine. ARGV: now, ttl, then one reason per user. */
export const NOT_SYNCED = `${COMMON}
local n = #ARGV - 2
count('entered', n)
count('notSynced', n)
local per = {}
for i = 3, #ARGV do per[ARGV[i]] = (per[ARGV[i]] or 0) + 1 end
for reason, k in pairs(per) do tally(base .. 'rns', reason, k) end
touch_scope()
return n
`;

/**
 * import: moves a static-data journal into Redis, once per journal (its writer and save time). ARGV: now, ttl, marker,
 * counters JSON ({entered… without pending}), restored users, then (dest, destJson, act, seq, rows, n, users,
 * entered, failures, lastError) per chunk. Returns 1 when imported, 0 when it was imported before.
 */
export const IMPORT = `${COMMON}
local now = tonumber(ARGV[1])
if redis.call('SET', base .. 'mig:' .. ARGV[3], now, 'NX', 'PX', TTL) == false then return 0 end
local saved = cjson.decode(ARGV[4])
for _, field in ipairs({ 'synced', 'notSynced', 'errored', 'added', 'removed' }) do
  count(field, tonumber(saved[field] or 0))
end
local restored = tonumber(ARGV[5])
count('pending', restored)
count('entered', tonumber(saved.synced or 0) + tonumber(saved.notSynced or 0) + tonumber(saved.errored or 0) + restored)
for reason, k in pairs(saved.notSyncedReasons or {}) do tally(base .. 'rns', reason, k) end
for reason, k in pairs(saved.erroredReasons or {}) do tally(base .. 'rer', reason, k) end
for i = 6, #ARGV, 10 do
  local dest, act, seq = ARGV[i], ARGV[i + 2], ARGV[i + 3]
  redis.call('HSET', base .. 'dests', dest, ARGV[i + 1])
  local id = dest .. ':' .. seq .. ':' .. act
  local ckey = base .. 'c:' .. id
  redis.call('HSET', ckey, 'dest', dest, 'act', act, 'seq', seq, 'rows', ARGV[i + 4], 'n', ARGV[i + 5],
    'users', ARGV[i + 6], 'entered', ARGV[i + 7], 'failures', ARGV[i + 8], 'state', 'queued')
  if ARGV[i + 9] ~= '' then redis.call('HSET', ckey, 'lastError', ARGV[i + 9]) end
  touch(ckey)
  redis.call('ZADD', base .. 'due', now, id)
  redis.call('ZADD', base .. 'uns:' .. dest .. ':' .. act, tonumber(seq), id)
  touch(base .. 'uns:' .. dest .. ':' .. act)
end
touch_scope()
return 1
`;

export const SCRIPTS = {
	tiktokSyncAdmit: ADMIT,
	tiktokSyncClaim: CLAIM,
	tiktokSyncCutAll: CUT_ALL,
	tiktokSyncRenew: RENEW,
	tiktokSyncSettle: SETTLE,
	tiktokSyncProbe: PROBE,
	tiktokSyncOutcomes: OUTCOMES,
	tiktokSyncBusy: BUSY,
	tiktokSyncNotSynced: NOT_SYNCED,
	tiktokSyncImport: IMPORT,
} as const;

export type ScriptName = keyof typeof SCRIPTS;
