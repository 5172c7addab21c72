-- Leases with fencing tokens, each decision atomic in one round trip.
-- It follows the rules of bazaar.kernel.locks.ports.LeaseStore; the contract suite
-- (bazaar.testing.contracts.locks) runs this script and the other stores through the same cases.
--
-- KEYS[1]  the lease: a hash {holder, token, expires_ms} with a PX expiry (absent = free);
--          expires_ms is what was granted, so every read reports the same expiry
-- KEYS[2]  the name's token counter: a plain integer with no expiry, so tokens never repeat
--          across expiries and releases (both keys share a {hash tag}: one cluster slot)
-- ARGV[1]  "acquire" | "renew" | "release" | "read"
-- ARGV[2]  holder               (acquire, renew, release)
-- ARGV[3]  ttl in milliseconds  (acquire, renew)
-- ARGV[4]  token                (renew, release)
--
-- Reply: {status, holder, token, expires_at_ms}, every element a string (Redis would truncate
-- a Lua number). status is "ok", "held" (acquire: someone else has it), "lost" (renew),
-- "stale" (release: not ours, a no-op) or "none" (read: free). expires_at_ms is on the
-- server's TIME, the one clock every process shares.

local lease = KEYS[1]
local counter = KEYS[2]
local op = ARGV[1]

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function int(x)
  return string.format('%d', x)
end

local cur = redis.call('HMGET', lease, 'holder', 'token', 'expires_ms')
local cur_holder = cur[1]
local cur_token = cur[2]
local cur_expires = cur[3]

-- Sets the expiry Redis enforces and the one leases report, from the same reading of TIME.
local function extend(ttl)
  local expires = int(now_ms + ttl)
  redis.call('HSET', lease, 'expires_ms', expires)
  redis.call('PEXPIRE', lease, ttl)
  return expires
end

if op == 'read' then
  if not cur_holder then
    return {'none', '', '0', '0'}
  end
  return {'ok', cur_holder, cur_token, cur_expires}
end

local holder = ARGV[2]

if op == 'acquire' then
  local ttl = tonumber(ARGV[3])
  if cur_holder and cur_holder ~= holder then
    return {'held', cur_holder, cur_token, cur_expires}
  end
  local token = cur_token
  if not cur_holder then
    -- Free (never taken, expired or released): a fresh grant, so a fresh token.
    token = int(redis.call('INCR', counter))
    redis.call('HSET', lease, 'holder', holder, 'token', token)
  end
  return {'ok', holder, token, extend(ttl)}
end

local token = ARGV[4]
local mine = cur_holder == holder and cur_token == token

if op == 'renew' then
  if not mine then
    return {'lost', cur_holder or '', cur_token or '0', '0'}
  end
  return {'ok', holder, token, extend(tonumber(ARGV[3]))}
end

if op == 'release' then
  if not mine then
    return {'stale', cur_holder or '', cur_token or '0', '0'}
  end
  redis.call('DEL', lease)
  return {'ok', holder, token, int(now_ms)}
end

return redis.error_reply('unknown lease op: ' .. tostring(op))
