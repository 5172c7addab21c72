-- Set one or more keys' bits in a Bloom filter, and in the filter being rebuilt, if any.
--
-- KEYS[1]  the live filter (a string of bits)
-- KEYS[2]  the filter a rebuild is writing, which exists only while one runs
-- ARGV     bit offsets, computed by the caller (bazaar.kernel.cache.bloom.bloom_positions)
--
-- Reply: 1 if the live filter exists, 0 if it does not (it was never built, or was evicted).
--
-- A missing live filter is not created: a filter holding only the keys added since would
-- answer "absent" for every older id. Writing into the rebuild's filter too means an id
-- committed after the rebuild read its source is not lost when the rebuild takes over.

local live = redis.call('EXISTS', KEYS[1]) == 1
local building = redis.call('EXISTS', KEYS[2]) == 1
for i = 1, #ARGV do
  if live then
    redis.call('SETBIT', KEYS[1], ARGV[i], 1)
  end
  if building then
    redis.call('SETBIT', KEYS[2], ARGV[i], 1)
  end
end
if live then
  return 1
end
return 0
