-- Release a load lock only if it is still ours: compare the token, then delete, atomically.
-- A plain GET then DEL from the client could delete a lock that expired in between and was
-- taken by another process (the pattern of https://redis.io/docs/latest/commands/set/).
--
-- KEYS[1]  the lock key (SET NX PX by acquire; absent = free)
-- ARGV[1]  the token acquire returned
--
-- Reply: 1 if the lock was ours and is released, 0 if it had expired or was another's.

if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
