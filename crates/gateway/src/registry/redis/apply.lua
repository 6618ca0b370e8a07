-- Changes one account's sessions atomically and bumps its revision.
-- KEYS[1] account hash, KEYS[2] global revision counter, KEYS[3] the account's flags
-- ARGV[1] expected revision ('*' = any), ARGV[2] number of removals,
-- then (deviceId, connectionId) pairs, then optionally (deviceId, entry, node) to add.
-- Returns {-1} when the revision moved, {-2} banned / {-3} disabled (nothing
-- added), {0} when nothing changed, else {rev, all fields, removed entries}.
local cur = redis.call('HGET', KEYS[1], '\0rev') or '0'
if ARGV[1] ~= '*' and cur ~= ARGV[1] then return {-1} end
local n = tonumber(ARGV[2])
local add_at = 3 + 2 * n
if ARGV[add_at] then
  -- Checked with the write: a ban on any node holds for this login at once.
  if redis.call('HGET', KEYS[3], 'banned') == '1' then return {-2} end
  if redis.call('HGET', KEYS[3], 'disabled') == '1' then return {-3} end
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
      redis.call('SREM', 'vst:sessions:' .. entry.node, KEYS[1] .. '\n' .. dev .. '\n' .. conn)
      table.insert(removed, raw)
      changed = true
    end
  end
end
if ARGV[i] then
  local dev, raw, node = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local entry = cjson.decode(raw)
  redis.call('HSET', KEYS[1], dev, raw)
  redis.call('SADD', 'vst:sessions:' .. node, KEYS[1] .. '\n' .. dev .. '\n' .. entry.device.connectionId)
  changed = true
end
if not changed then return {0} end
-- Revisions rise even when Redis lost its data: never below the clock (µs).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rev = redis.call('INCR', KEYS[2])
if rev < now then
  rev = now
  redis.call('SET', KEYS[2], string.format('%.0f', rev))
end
local rev_text = string.format('%.0f', rev)
redis.call('HSET', KEYS[1], '\0rev', rev_text)
local all = redis.call('HGETALL', KEYS[1])
if #all == 2 then redis.call('DEL', KEYS[1]) end
return {rev_text, all, removed}
