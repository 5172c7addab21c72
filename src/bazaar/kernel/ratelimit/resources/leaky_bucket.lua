-- Leaky bucket as a queue (algorithms.LeakyBucket). State: doubles (queued units, when
-- counted, deadline). Expiry as in token_bucket.lua: the queue drains within a period of
-- any write.
local rate = limit / period
local level = 0
local deadline = 0
local saved = redis.call('GET', key)
if saved then
  local counted_at
  if #saved == 24 then
    level, counted_at, deadline = struct.unpack('<ddd', saved)
  else -- written before states carried their deadline: set the expiry on this write
    level, counted_at = struct.unpack('<dd', saved)
  end
  if now < counted_at then
    now = counted_at
  end
  level = level - (now - counted_at) * rate
  if level < 0 then
    level = 0
  end
end
if level + need <= limit then
  local delay = level / rate
  if cost > 0 then
    level = level + cost
  end
  local reset_at = now + level / rate
  if cost > 0 then
    if reset_at + 1 <= deadline then
      redis.call('SET', key, struct.pack('<ddd', level, now, deadline), 'KEEPTTL')
    else
      local ms = math.ceil(period * 1000) + 1000
      redis.call('SET', key, struct.pack('<ddd', level, now, now + ms / 1000), 'PX', ms)
    end
  end
  return struct.pack('<ddddd', 1, math.floor(limit - level), reset_at, 0, delay)
end
local retry_after = (level + need - limit) / rate
if retry_after <= 0 then
  retry_after = MIN_RETRY_AFTER_S
end
return struct.pack('<ddddd', 0, math.floor(limit - level), now + level / rate, retry_after, 0)
