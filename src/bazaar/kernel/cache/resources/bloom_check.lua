-- Whether every given bit of a Bloom filter is set: the key might be present.
--
-- KEYS[1]  the live filter
-- ARGV     bit offsets, computed by the caller
--
-- Reply: 1 (every bit set: maybe present), 0 (a bit is clear: certainly absent), or -1 (the
-- filter does not exist, so it cannot tell; the caller asks the store instead).

if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
for i = 1, #ARGV do
  if redis.call('GETBIT', KEYS[1], ARGV[i]) == 0 then
    return 0
  end
end
return 1
