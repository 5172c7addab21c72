-- One step of rebuilding a Bloom filter beside the live one, then replacing it in one RENAME.
--
-- KEYS[1]  the live filter
-- KEYS[2]  the filter being built
-- KEYS[3]  the rebuild's owner: the token of the rebuild that holds KEYS[2]
-- ARGV[1]  the step: 'begin', 'write', 'commit' or 'abort'
-- ARGV[2]  this rebuild's token
-- ARGV[3]  milliseconds the owner and the filter being built live without a step
-- ARGV[4]  begin: the filter's size in bits; write: the first of the bit offsets to set
--
-- Reply: 1 when the step was done, 0 when another rebuild owns KEYS[2] (it began while this
-- one ran, or after this one went quiet for ARGV[3] ms and expired).
--
-- Readers only ever see KEYS[1], which changes in one atomic RENAME: the old filter or the
-- new one, never one half built. The TTL lets a crashed rebuild's leftovers expire; RENAME
-- carries it over, hence the PERSIST.

local step, token, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])

if step == 'begin' then
  local owner = redis.call('GET', KEYS[3])
  if owner and owner ~= token then
    return 0
  end
  redis.call('SET', KEYS[3], token, 'PX', ttl)
  redis.call('DEL', KEYS[2])
  -- Allocate the whole string now, so a filter with no keys still exists and has its size.
  redis.call('SETBIT', KEYS[2], tonumber(ARGV[4]) - 1, 0)
  redis.call('PEXPIRE', KEYS[2], ttl)
  return 1
end

if redis.call('GET', KEYS[3]) ~= token then
  return 0
end

if step == 'write' then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    return 0
  end
  for i = 4, #ARGV do
    redis.call('SETBIT', KEYS[2], ARGV[i], 1)
  end
  redis.call('PEXPIRE', KEYS[2], ttl)
  redis.call('PEXPIRE', KEYS[3], ttl)
  return 1
end

if step == 'commit' then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    return 0
  end
  redis.call('RENAME', KEYS[2], KEYS[1])
  redis.call('PERSIST', KEYS[1])
  redis.call('DEL', KEYS[3])
  return 1
end

if step == 'abort' then
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end

return redis.error_reply('unknown bloom rebuild step ' .. tostring(step))
