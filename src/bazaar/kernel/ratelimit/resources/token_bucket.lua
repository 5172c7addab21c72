-- Token bucket (algorithms.TokenBucket). State: doubles (tokens, when counted, deadline).
-- The bucket is full again (reset_at) at most a period after any write, so a write that
-- sets the expiry sets a period and a second, and records that deadline; later writes keep
-- it while it still lies a second past their reset_at. A key outlives its last write by at
-- most a period and a second, as when every write set the expiry to reset_at.
local rate = limit / period
local tokens = limit
local deadline = 0
local saved = redis.call('GET', key)
if saved then
  local counted_at
  if #saved == 24 then
    tokens, counted_at, deadline = struct.unpack('<ddd', saved)
  else -- written before states carried their deadline: set the expiry on this write
    tokens, counted_at = struct.unpack('<dd', saved)
  end
  if now < counted_at then
    now = counted_at
  end
  tokens = tokens + (now - counted_at) * rate
  if tokens > limit then
    tokens = limit
  end
end
if tokens >= need then
  if cost > 0 then
    tokens = tokens - cost
  end
  local reset_at = now + (limit - tokens) / rate
  if cost > 0 then
    if reset_at + 1 <= deadline then
      redis.call('SET', key, struct.pack('<ddd', tokens, now, deadline), 'KEEPTTL')
    else
      local ms = math.ceil(period * 1000) + 1000
      redis.call('SET', key, struct.pack('<ddd', tokens, now, now + ms / 1000), 'PX', ms)
    end
  end
  return struct.pack('<ddddd', 1, math.floor(tokens), reset_at, 0, 0)
end
local retry_after = (need - tokens) / rate
if retry_after <= 0 then
  retry_after = MIN_RETRY_AFTER_S
end
return struct.pack('<ddddd', 0, math.floor(tokens), now + (limit - tokens) / rate, retry_after, 0)
