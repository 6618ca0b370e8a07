-- Changes one account's sessions atomically and bumps its revision. Every key
-- is the account's (one hash slot); the nodes' session sets are kept by the
-- caller around it.
-- KEYS[1] account hash, KEYS[2] the account's flags
-- ARGV[1] expected revision ('*' = any), ARGV[2] number of removals,
-- then (deviceId, connectionId) pairs, then optionally (deviceId, entry) to add.
-- Returns {-1} when the revision moved, {-2} banned / {-3} disabled (nothing
-- added), {0} when nothing changed, else {rev, all fields, removed entries}.
local cur = redis.call('HGET', KEYS[1], '\0rev') or '0'
if ARGV[1] ~= '*' and cur ~= ARGV[1] then return {-1} end
local n = tonumber(ARGV[2])
local add_at = 3 + 2 * n
if ARGV[add_at] then
  -- Checked with the write: a ban on any node holds for this login at once.
  if redis.call('HGET', KEYS[2], 'banned') == '1' then return {-2} end
  if redis.call('HGET', KEYS[2], 'disabled') == '1' then return {-3} end
end
local removed = {}
local changed = false
local i = 3
for _ = 1, n do
  local dev, conn = ARGV[i], ARGV[i + 1]
  i = i + 2
  local raw = redis.call('HGET', KEYS[1], dev)
  if raw then
    local ok, entry = pcall(cjson.decode, raw)
    if ok and entry.device.connectionId == conn then
      redis.call('HDEL', KEYS[1], dev)
      table.insert(removed, raw)
      changed = true
    end
  end
end
if ARGV[i] then
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  changed = true
end
if not changed then return {0} end
local rev_text = next_rev(KEYS[1])
local all = redis.call('HGETALL', KEYS[1])
settle(KEYS[1], all)
return {rev_text, all, removed}
