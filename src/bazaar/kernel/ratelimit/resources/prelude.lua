-- Shared head of every rate-limit script; the store prepends it to the algorithm's body.
-- Each body mirrors its pure core in bazaar.kernel.ratelimit.algorithms operation for
-- operation, in the same order: Lua numbers are doubles like Python floats, so both reach
-- bit-identical decisions (the contract suite, bazaar.testing.contracts.ratelimit, checks).
--
-- KEYS[1]  the key's state
-- ARGV[1]  little-endian doubles: limit, period in seconds, cost (0 peeks) and, optionally,
--          now in epoch seconds; without it the server's TIME is used (one clock for every
--          process).
--
-- Reply: five little-endian doubles: allowed (1/0), remaining, reset_at, retry_after, delay.
--
-- Numbers travel and rest as packed doubles (the struct library), not text: exact without
-- 17-digit formatting, and formatting and parsing text was half of each script's run time.
--
-- Written for the server's time per call, which is the caller's latency: no helper
-- functions (a script's body runs afresh on every call, so each local function would be a
-- new closure each time); the bodies repeat the few lines instead.
--
-- Expiry only frees memory; no decision relies on it. A key outlives its state by at least
-- a second, so that rounding, or a test clock that runs apart from the server's, never drops
-- a live state early. Setting an expiry costs more than the rest of a write, so a write
-- keeps the key's expiry ('KEEPTTL') whenever the one it has still covers the new state.

local key = KEYS[1]
local limit, period, cost, now
if #ARGV[1] == 32 then
  limit, period, cost, now = struct.unpack('<dddd', ARGV[1])
else
  limit, period, cost = struct.unpack('<ddd', ARGV[1])
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local need = cost
if need == 0 then
  need = 1
end

-- Mirrors algorithms.MIN_RETRY_AFTER_S.
local MIN_RETRY_AFTER_S = 1e-6
