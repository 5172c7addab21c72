-- Sliding window counter (algorithms.SlidingWindowCounter).
-- State: doubles (window index, previous window's count, current window's count).
-- Expires a second after the window following its own ends (reset_at, as a state is only
-- written with a current count); the window's first write sets that, the others keep it.
local window = math.floor(now / period)
local previous = 0
local current = 0
local same_window = false
local saved = redis.call('GET', key)
if saved then
  local w, p, c = struct.unpack('<ddd', saved)
  if window <= w then
    window = w
    previous = p
    current = c
    same_window = true
  elseif window == w + 1 then
    previous = c
  end
end
local start = window * period
local elapsed = now - start
if elapsed < 0 then
  elapsed = 0
end
local weight = 1 - elapsed / period
local estimate = previous * weight + current
local allowed = estimate + need <= limit
local retry_after = 0
if not allowed then
  local room = limit - need - current
  if room >= 0 then
    retry_after = start + period * (1 - room / previous) - now
  else
    retry_after = (window + 1) * period + period * (1 - (limit - need) / current) - now
  end
  if retry_after <= 0 then
    retry_after = MIN_RETRY_AFTER_S
  end
elseif cost > 0 then
  current = current + cost
  estimate = previous * weight + current
end
local remaining = math.floor(limit - estimate)
if remaining < 0 then
  remaining = 0
end
local reset_at = now
if current > 0 then
  reset_at = (window + 2) * period
elseif previous > 0 then
  reset_at = (window + 1) * period
end
if allowed and cost > 0 then
  local state = struct.pack('<ddd', window, previous, current)
  if same_window then
    redis.call('SET', key, state, 'KEEPTTL')
  else
    local ms = math.ceil((reset_at - now) * 1000)
    if ms < 0 then
      ms = 0
    end
    redis.call('SET', key, state, 'PX', ms + 1000)
  end
end
return struct.pack('<ddddd', allowed and 1 or 0, remaining, reset_at, retry_after, 0)
