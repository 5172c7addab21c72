-- Circuit breaker state shared by every process, decided atomically in one round trip.
-- It mirrors bazaar.kernel.breaker.machine.BreakerMachine rule for rule; the contract suite
-- (bazaar.testing.contracts.breaker) runs both through the same scenarios.
--
-- KEYS[1]     the breaker's hash
-- ARGV[1]     "acquire" | "record" | "read"
-- ARGV[2]     now in epoch seconds, or "" for the server's TIME: one clock for every process,
--             so hosts with skewed clocks still agree on windows and cooldowns
-- ARGV[3-11]  failure_rate_threshold, minimum_calls, window_s, window_buckets,
--             consecutive_failures, cooldown_s, half_open_probes, slow_call_s ("" = none),
--             key TTL in ms
-- ARGV[12-15] record only: the permit's generation, admission ("allow" | "probe"),
--             outcome ("success" | "failure" | "cancelled"), duration_s
--
-- Hash fields: state, gen, opened_at, half_at, probes (probe slots taken), probes_ok, consec,
-- head (newest window bucket index) and, per ring slot k, sk (bucket index), ck (calls),
-- fk (failures).
-- Reply: {verdict, state, gen, retry_after, reason, failure_rate, calls, opened_at, consec}.
-- Every element is a string: Redis would truncate a Lua number to an integer.

local key = KEYS[1]
local op = ARGV[1]

local now
if ARGV[2] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[2])
end

local threshold = tonumber(ARGV[3])
local min_calls = tonumber(ARGV[4])
local window_s = tonumber(ARGV[5])
local nbuckets = tonumber(ARGV[6])
local max_consecutive = tonumber(ARGV[7])
local cooldown = tonumber(ARGV[8])
local max_probes = tonumber(ARGV[9])
local slow = tonumber(ARGV[10])
local ttl_ms = tonumber(ARGV[11])
local bucket_s = window_s / nbuckets

-- %.17g round-trips a double; Redis itself formats Lua numbers with fewer digits.
local function fmt(x)
  return string.format('%.17g', x)
end

local function int(x)
  return string.format('%d', x)
end

local f = redis.call('HMGET', key, 'state', 'gen', 'opened_at', 'half_at', 'probes',
  'probes_ok', 'consec', 'head')
local state = f[1] or 'closed'
local gen = tonumber(f[2]) or 0
local opened_at = tonumber(f[3])
local half_at = tonumber(f[4]) or 0
local probes = tonumber(f[5]) or 0
local probes_ok = tonumber(f[6]) or 0
local consec = tonumber(f[7]) or 0
local head = tonumber(f[8])

-- The bucket "now" falls in; a clock stepping back lands in the newest bucket instead.
local function current_index()
  local idx = math.floor(now / bucket_s)
  if head ~= nil and idx < head then
    idx = head
  end
  return idx
end

-- Calls and failures in the buckets idx - nbuckets + 1 .. idx.
local function window_totals(idx)
  local names = {}
  for k = 0, nbuckets - 1 do
    names[3 * k + 1] = 's' .. k
    names[3 * k + 2] = 'c' .. k
    names[3 * k + 3] = 'f' .. k
  end
  local v = redis.call('HMGET', key, unpack(names))
  local calls, fails = 0, 0
  for k = 0, nbuckets - 1 do
    local s = tonumber(v[3 * k + 1])
    if s ~= nil and s > idx - nbuckets and s <= idx then
      calls = calls + tonumber(v[3 * k + 2])
      fails = fails + tonumber(v[3 * k + 3])
    end
  end
  return calls, fails
end

local function reply(verdict, reason, calls, fails)
  calls = calls or 0
  fails = fails or 0
  local rate = 0
  if calls > 0 then
    rate = fails / calls
  end
  local retry_after = 0
  if state == 'open' then
    retry_after = math.max(opened_at + cooldown - now, 0)
  end
  local opened = ''
  if state ~= 'closed' and opened_at ~= nil then
    opened = fmt(opened_at)
  end
  return {verdict, state, int(gen), fmt(retry_after), reason or '', fmt(rate), int(calls),
    opened, int(consec)}
end

local function persist_phase()
  redis.call('HSET', key, 'state', state, 'gen', int(gen), 'half_at', fmt(half_at),
    'probes', int(probes), 'probes_ok', int(probes_ok))
  redis.call('PEXPIRE', key, ttl_ms)
end

local function open(reason)
  local calls, fails = window_totals(current_index())
  state = 'open'
  gen = gen + 1
  opened_at = now
  probes = 0
  probes_ok = 0
  redis.call('HSET', key, 'opened_at', fmt(opened_at))
  persist_phase()
  return reply('ok', reason, calls, fails)
end

local function close()
  -- Closing resets the window: dropping the hash drops every bucket with it.
  gen = gen + 1
  state = 'closed'
  opened_at = nil
  consec = 0
  redis.call('DEL', key)
  redis.call('HSET', key, 'state', state, 'gen', int(gen))
  redis.call('PEXPIRE', key, ttl_ms)
  return reply('ok', 'probes_succeeded')
end

if op == 'acquire' then
  if state == 'closed' then
    return reply('allow')
  end
  local reason = nil
  if state == 'open' then
    if opened_at + cooldown - now > 0 then
      return reply('reject')
    end
    reason = 'cooldown_elapsed'
  elseif now - half_at >= cooldown then
    -- No probe answered within a cooldown (caller hung, process died holding the slot).
    reason = 'probe_round_expired'
  end
  if reason ~= nil then
    state = 'half_open'
    gen = gen + 1
    half_at = now
    probes = 0
    probes_ok = 0
  end
  local verdict = 'reject'
  if probes < max_probes then
    probes = probes + 1
    verdict = 'probe'
  end
  if reason ~= nil or verdict == 'probe' then
    persist_phase()
  end
  return reply(verdict, reason)
end

if op == 'record' then
  local permit_gen = tonumber(ARGV[12])
  local admission = ARGV[13]
  local outcome = ARGV[14]
  local duration = tonumber(ARGV[15])
  if permit_gen ~= gen then
    -- Admitted before the last transition: says nothing about the current phase.
    return reply('stale')
  end
  if outcome == 'cancelled' then
    if admission == 'probe' then
      probes = probes - 1
      persist_phase()
    end
    return reply('ok')
  end
  local failed = outcome == 'failure' or (slow ~= nil and duration > slow)
  if admission == 'allow' then
    local idx = current_index()
    local slot = idx % nbuckets
    local cur = redis.call('HMGET', key, 's' .. slot, 'c' .. slot, 'f' .. slot)
    local c, fl = 0, 0
    if tonumber(cur[1]) == idx then
      c = tonumber(cur[2])
      fl = tonumber(cur[3])
    end
    c = c + 1
    if failed then
      fl = fl + 1
      consec = consec + 1
    else
      consec = 0
    end
    redis.call('HSET', key, 's' .. slot, fmt(idx), 'c' .. slot, int(c), 'f' .. slot, int(fl),
      'head', fmt(idx), 'consec', int(consec))
    head = idx
    if failed and consec >= max_consecutive then
      return open('consecutive_failures')
    end
    local calls, fails = window_totals(idx)
    if calls >= min_calls and fails / calls >= threshold then
      return open('failure_rate')
    end
    redis.call('PEXPIRE', key, ttl_ms)
    return reply('ok')
  end
  if admission == 'probe' then
    if failed then
      return open('probe_failed')
    end
    probes_ok = probes_ok + 1
    if probes_ok >= max_probes then
      return close()
    end
    persist_phase()
  end
  return reply('ok')
end

if op == 'read' then
  local calls, fails = window_totals(current_index())
  return reply('', nil, calls, fails)
end

return redis.error_reply('unknown breaker op: ' .. tostring(op))
