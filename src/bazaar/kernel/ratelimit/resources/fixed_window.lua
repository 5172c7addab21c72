-- Fixed window counter (algorithms.FixedWindow). State: doubles (window index, count).
-- Expires a second after its window ends; the window's first write sets that, the others
-- keep it.
local window = math.floor(now / period)
local count = 0
local same_window = false
local saved = redis.call('GET', key)
if saved then
  local w, c = struct.unpack('<dd', saved)
  if window <= w then
    window = w
    count = c
    same_window = true
  end
end
local window_end = (window + 1) * period
if count + need <= limit then
  if cost > 0 then
    count = count + cost
    local state = struct.pack('<dd', window, count)
    if same_window then
      redis.call('SET', key, state, 'KEEPTTL')
    else
      local ms = math.ceil((window_end - now) * 1000)
      if ms < 0 then
        ms = 0
      end
      redis.call('SET', key, state, 'PX', ms + 1000)
    end
  end
  return struct.pack('<ddddd', 1, limit - count, window_end, 0, 0)
end
local retry_after = window_end - now
if retry_after <= 0 then
  retry_after = MIN_RETRY_AFTER_S
end
return struct.pack('<ddddd', 0, limit - count, window_end, retry_after, 0)
