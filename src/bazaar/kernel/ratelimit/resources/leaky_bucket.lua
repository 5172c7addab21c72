-- Leaky bucket as a queue (algorithms.LeakyBucket). State: doubles (queued units, when
-- counted).
local rate = limit / period
local level = 0
local saved = redis.call('GET', key)
if saved then
  local counted_at
  level, counted_at = struct.unpack('<dd', saved)
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
    redis.call('SET', key, struct.pack('<dd', level, now), 'PX', ttl_ms(reset_at))
  end
  return reply(1, math.floor(limit - level), reset_at, 0, delay)
end
local reset_at = now + level / rate
return reply(0, math.floor(limit - level), reset_at, retry((level + need - limit) / rate), 0)
