-- Token bucket (algorithms.TokenBucket). State: doubles (tokens, when counted).
local rate = limit / period
local tokens = limit
local saved = redis.call('GET', key)
if saved then
  local counted_at
  tokens, counted_at = struct.unpack('<dd', saved)
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
    redis.call('SET', key, struct.pack('<dd', tokens, now), 'PX', ttl_ms(reset_at))
  end
  return reply(1, math.floor(tokens), reset_at, 0, 0)
end
local reset_at = now + (limit - tokens) / rate
return reply(0, math.floor(tokens), reset_at, retry((need - tokens) / rate), 0)
