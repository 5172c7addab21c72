-- Sliding log (algorithms.SlidingLog). State: one string of admission times (doubles),
-- oldest first. A string rather than a list: one GET and one SET, and the live entries are
-- found by bisection (log2(n) reads) instead of reading every entry into a table.
local log = redis.call('GET', key)
local n, newest = 0, 0
if log then
  n = #log / 8
  if n < 1 or n ~= math.floor(n) then
    return redis.error_reply('ERR sliding log state of ' .. #log .. ' bytes')
  end
  newest = struct.unpack('<d', log, n * 8 - 7)
  if now < newest then
    now = newest
  end
end
-- start: the first live entry (bisect_right on now - period), 1-based.
local cutoff = now - period
local start, high = 1, n + 1
while start < high do
  local middle = math.floor((start + high) / 2)
  if struct.unpack('<d', log, middle * 8 - 7) <= cutoff then
    start = middle + 1
  else
    high = middle
  end
end
local count = n - start + 1
if count + need <= limit then
  local reset_at = now
  if cost > 0 then
    local stamps = struct.pack('<d', now)
    if cost > 1 then
      stamps = string.rep(stamps, cost)
    end
    if count > 0 then
      stamps = string.sub(log, start * 8 - 7) .. stamps
    end
    count = count + cost
    reset_at = now + period
    redis.call('SET', key, stamps, 'PX', math.ceil(period * 1000) + 1000)
  elseif count > 0 then
    reset_at = newest + period
  end
  return struct.pack('<ddddd', 1, limit - count, reset_at, 0, 0)
end
local leaving = struct.unpack('<d', log, (start + count + need - limit - 1) * 8 - 7)
local retry_after = leaving + period - now
if retry_after <= 0 then
  retry_after = MIN_RETRY_AFTER_S
end
return struct.pack('<ddddd', 0, limit - count, newest + period, retry_after, 0)
