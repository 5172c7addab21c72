-- Fixed window counter (algorithms.FixedWindow). State: doubles (window index, count).
local window = math.floor(now / period)
local count = 0
local saved = redis.call('GET', key)
if saved then
  local w, c = struct.unpack('<dd', saved)
  if window <= w then
    window = w
    count = c
  end
end
local window_end = (window + 1) * period
if count + need <= limit then
  if cost > 0 then
    count = count + cost
    redis.call('SET', key, struct.pack('<dd', window, count), 'PX', ttl_ms(window_end))
  end
  return reply(1, limit - count, window_end, 0, 0)
end
return reply(0, limit - count, window_end, retry(window_end - now), 0)
