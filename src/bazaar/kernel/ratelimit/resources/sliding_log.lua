-- Sliding log (algorithms.SlidingLog). State: a list of admission times (doubles), oldest
-- first.
local log = redis.call('LRANGE', key, 0, -1)
local n = #log
for i = 1, n do
  log[i] = struct.unpack('<d', log[i])
end
if n > 0 and now < log[n] then
  now = log[n]
end
-- start: the first live entry (bisect_right on now - period), 1-based.
local cutoff = now - period
local start = 1
while start <= n and log[start] <= cutoff do
  start = start + 1
end
local count = n - start + 1
if count + need <= limit then
  local newest = now
  if cost > 0 then
    if start > 1 then
      redis.call('LTRIM', key, start - 1, -1)
    end
    local stamp = struct.pack('<d', now)
    local batch = {}
    local left = cost
    -- In chunks: unpack() of a huge table would overflow the Lua stack.
    while left > 0 do
      local size = math.min(left, 1000)
      for i = 1, size do
        batch[i] = stamp
      end
      for i = size + 1, #batch do
        batch[i] = nil
      end
      redis.call('RPUSH', key, unpack(batch))
      left = left - size
    end
    count = count + cost
    redis.call('PEXPIRE', key, ttl_ms(now + period))
  elseif count > 0 then
    newest = log[n]
  end
  local reset_at = now
  if count > 0 then
    reset_at = newest + period
  end
  return reply(1, limit - count, reset_at, 0, 0)
end
local leaving = log[start + count + need - limit - 1]
return reply(0, limit - count, log[n] + period, retry(leaving + period - now), 0)
