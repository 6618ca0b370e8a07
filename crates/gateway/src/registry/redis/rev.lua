-- An account's revisions, shared by the scripts that change its hash.
-- The next revision: above the account's last one and never below the clock
-- (µs), so revisions rise even after the hash of an account without sessions
-- expired, or Redis lost its data.
local function next_rev(key)
  local cur = tonumber(redis.call('HGET', key, '\0rev') or '0')
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local rev = string.format('%.0f', math.max(cur + 1, now))
  redis.call('HSET', key, '\0rev', rev)
  return rev
end
-- An account with no sessions left (only its revision) keeps it a day, then goes.
local function settle(key, fields)
  if #fields == 2 then redis.call('PEXPIRE', key, 86400000) else redis.call('PERSIST', key) end
end
