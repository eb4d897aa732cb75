package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts below make Claim and every fenced write one atomic round
// trip (EVALSHA, falling back to EVAL once per server). Every script touches
// only the session hash (always KEYS[1]) and indexes of the same shard: its
// expiry index, its owner index and its will index; all carry the shard's
// hash tag, so in Redis Cluster they share a slot.
//
// Numbers: Redis Lua numbers are doubles. Epochs (microseconds, below 2^53)
// and millisecond deadlines are safe as doubles and are written back with
// %.0f, never tostring, which would switch to exponent notation. LastSeq is
// a full uint64, so it is only compared as a decimal string.
//
// Write scripts return 0 (done), 1 (no such session) or 2 (fenced).

// luaFence is the prologue of every fenced write: ARGV[1] is the caller's
// epoch in decimal.
const luaFence = `
local e = redis.call('HGET', KEYS[1], 'e')
if not e then return 1 end
if e ~= ARGV[1] then return 2 end
`

// luaNumber formats a Lua number that holds an integer.
const luaNumber = `
local function num(v) return string.format('%.0f', v) end
`

// luaWill keeps a session's entry in its shard's will index in step with
// its hash: a disconnected session whose will is due before the session
// ends is scored by that due time (d + delay), as session.State.WillDueAt
// says; any other session has no entry. willDelay reads the delay from an
// encoded will (encodeWill, version 1): the uvarint after the version and
// flag bytes.
const luaWill = `
local function willDelay(w)
  local v, mul = 0, 1
  for i = 3, 7 do
    local b = string.byte(w, i)
    if not b then return v end
    v = v + (b % 128) * mul
    if b < 128 then return v end
    mul = mul * 128
  end
  return v
end
local function indexWill(h, zw, member)
  local f = redis.call('HMGET', h, 'c', 'd', 'x', 'w')
  if f[1] ~= '0' or not f[4] then
    redis.call('ZREM', zw, member)
    return
  end
  local delay = willDelay(f[4])
  if f[3] ~= '4294967295' and delay >= tonumber(f[3]) then
    redis.call('ZREM', zw, member)
    return
  end
  redis.call('ZADD', zw, string.format('%.0f', tonumber(f[2]) + delay * 1000), member)
end
`

// luaOwner names the owner index entry of a session: the owner escaped as
// escape does it in Go, ':', and the session's member.
const luaOwner = `
local function owned(owner, member)
  local e = string.gsub(owner, '[%%:{}]', function(c) return string.format('%%%02X', string.byte(c)) end)
  return e .. ':' .. member
end
`

// claimScript: ARGV member, owner, protocol level, clean ("1"/"0"), now
// (unix ms). The new epoch is the larger of the previous epoch plus one and
// the server clock in microseconds, so a key deleted and claimed again
// still gets a larger epoch than it ever had (as long as the Redis clock
// does not step back past it). Returns {status, epoch, previous HGETALL}
// with status "new", "live" or "expired". KEYS: hash, expiry index, owner
// index, will index.
var claimScript = redis.NewScript(luaNumber + luaOwner + `
-- TIME before writes needs effects replication, the default since Redis 5;
-- older servers must be asked for it.
if redis.replicate_commands then redis.replicate_commands() end
local h, z = KEYS[1], KEYS[2]
local prev = redis.call('HGETALL', h)
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local status = 'new'
local fresh = true
if #prev > 0 then
  local m = {}
  for i = 1, #prev, 2 do m[prev[i]] = prev[i + 1] end
  redis.call('ZREM', KEYS[3], owned(m['o'], ARGV[1]))
  local pe = tonumber(m['e'])
  if pe >= epoch then epoch = pe + 1 end
  status = 'live'
  if m['c'] == '0' and m['x'] ~= '4294967295' and
      tonumber(m['d']) + tonumber(m['x']) * 1000 <= tonumber(ARGV[5]) then
    status = 'expired'
  end
  if status == 'expired' or ARGV[4] == '1' then
    redis.call('DEL', h)
  else
    fresh = false
  end
end
local es = num(epoch)
if fresh then
  redis.call('HSET', h, 'e', es, 'o', ARGV[2], 'c', '1', 'p', ARGV[3], 'd', '0', 'x', '0', 'q', '0')
else
  redis.call('HSET', h, 'e', es, 'o', ARGV[2], 'c', '1', 'p', ARGV[3], 'd', '0')
end
redis.call('ZREM', z, ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[3], 0, owned(ARGV[2], ARGV[1]))
return {status, es, prev}
`)

// fieldsScript sets and deletes hash fields under the fence: ARGV epoch,
// n, then n field/value pairs to set, then the fields to delete. Commands
// take at most 256 fields at a time to stay far below Lua's stack limit.
var fieldsScript = redis.NewScript(luaFence + `
local n = tonumber(ARGV[2])
local last = 2 + 2 * n
local i = 3
while i <= last do
  local j = math.min(i + 511, last)
  redis.call('HSET', KEYS[1], unpack(ARGV, i, j))
  i = j + 1
end
while i <= #ARGV do
  local j = math.min(i + 255, #ARGV)
  redis.call('HDEL', KEYS[1], unpack(ARGV, i, j))
  i = j + 1
end
return 0
`)

// lastSeqScript: ARGV epoch, seq (decimal uint64 without leading zeros).
// Decimal strings of that form compare by length, then digit by digit.
var lastSeqScript = redis.NewScript(luaFence + `
local cur = redis.call('HGET', KEYS[1], 'q') or '0'
local new = ARGV[2]
local greater = #new > #cur
if #new == #cur then
  for i = 1, #new do
    local a, b = string.byte(new, i), string.byte(cur, i)
    if a ~= b then
      greater = a > b
      break
    end
  end
end
if greater then redis.call('HSET', KEYS[1], 'q', new) end
return 0
`)

// setWillScript: KEYS hash, will index; ARGV epoch, member, the encoded
// will ("" clears it; no encoded will is empty).
var setWillScript = redis.NewScript(luaFence + luaWill + `
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], 'w')
else
  redis.call('HSET', KEYS[1], 'w', ARGV[3])
end
indexWill(KEYS[1], KEYS[2], ARGV[2])
return 0
`)

// setExpiryScript: KEYS hash, expiry index, will index; ARGV epoch, expiry
// (seconds), member. A disconnected session's deadline, and whether its
// will is due before it, move with the interval.
var setExpiryScript = redis.NewScript(luaFence + luaNumber + luaWill + `
redis.call('HSET', KEYS[1], 'x', ARGV[2])
if redis.call('HGET', KEYS[1], 'c') == '0' then
  if ARGV[2] == '4294967295' then
    redis.call('ZREM', KEYS[2], ARGV[3])
  else
    local d = tonumber(redis.call('HGET', KEYS[1], 'd'))
    redis.call('ZADD', KEYS[2], num(d + tonumber(ARGV[2]) * 1000), ARGV[3])
  end
  indexWill(KEYS[1], KEYS[3], ARGV[3])
end
return 0
`)

// disconnectScript: KEYS hash, expiry index, owner index, will index;
// ARGV epoch, now (unix ms), member.
var disconnectScript = redis.NewScript(luaFence + luaNumber + luaOwner + luaWill + `
redis.call('ZREM', KEYS[3], owned(redis.call('HGET', KEYS[1], 'o'), ARGV[3]))
local x = redis.call('HGET', KEYS[1], 'x')
if x == '0' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[3])
  return 0
end
redis.call('HSET', KEYS[1], 'c', '0', 'd', ARGV[2])
if x ~= '4294967295' then
  redis.call('ZADD', KEYS[2], num(tonumber(ARGV[2]) + tonumber(x) * 1000), ARGV[3])
end
indexWill(KEYS[1], KEYS[4], ARGV[3])
return 0
`)

// deleteScript: KEYS hash, expiry index, owner index, will index; ARGV
// epoch, member.
var deleteScript = redis.NewScript(luaFence + luaOwner + `
redis.call('ZREM', KEYS[3], owned(redis.call('HGET', KEYS[1], 'o'), ARGV[2]))
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
return 0
`)

// reindexWillScript: KEYS hash, will index; ARGV member. It sets the
// session's will index entry right from its hash (removes it when the
// hash is gone); no fence, as it only restates what the hash says.
var reindexWillScript = redis.NewScript(luaWill + `
indexWill(KEYS[1], KEYS[2], ARGV[1])
return 0
`)

// takeWillScript: KEYS hash, will index; ARGV epoch, now (unix ms),
// member. When the session is disconnected and its will is due at now
// (its delay, or the session's expiry, has passed: session.State's
// WillTakeableAt), it removes the will and its will index entry, gives
// the session a new epoch (as Orphan picks one) and returns the encoded
// will; otherwise it changes nothing and returns 3.
var takeWillScript = redis.NewScript(luaFence + luaNumber + luaWill + `
local f = redis.call('HMGET', KEYS[1], 'c', 'd', 'x', 'w')
if f[1] ~= '0' or not f[4] then return 3 end
local d = tonumber(f[2])
local now = tonumber(ARGV[2])
local due = now < d + willDelay(f[4]) * 1000
if due and f[3] ~= '4294967295' then due = now < d + tonumber(f[3]) * 1000 end
if due then return 3 end
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pe = tonumber(ARGV[1])
if pe >= epoch then epoch = pe + 1 end
redis.call('HSET', KEYS[1], 'e', num(epoch))
redis.call('HDEL', KEYS[1], 'w')
redis.call('ZREM', KEYS[2], ARGV[3])
return f[4]
`)

// orphanScript: KEYS hash, expiry index, owner index, will index; ARGV
// epoch, owner, at (unix ms), member, take will ("1"/"0"). It refuses (2)
// unless the session is connected through owner; otherwise it marks it
// disconnected at at under a new epoch (as Claim picks one), indexes its
// deadline (at itself when the expiry interval is 0: the session is due at
// once) and a will it keeps, and returns the new HGETALL, taken before the
// will is removed when asked.
var orphanScript = redis.NewScript(luaFence + luaNumber + luaOwner + luaWill + `
if redis.replicate_commands then redis.replicate_commands() end
if redis.call('HGET', KEYS[1], 'c') ~= '1' or redis.call('HGET', KEYS[1], 'o') ~= ARGV[2] then return 2 end
local t = redis.call('TIME')
local epoch = tonumber(t[1]) * 1000000 + tonumber(t[2])
local pe = tonumber(ARGV[1])
if pe >= epoch then epoch = pe + 1 end
redis.call('HSET', KEYS[1], 'e', num(epoch), 'c', '0', 'd', ARGV[3])
redis.call('ZREM', KEYS[3], owned(ARGV[2], ARGV[4]))
local x = redis.call('HGET', KEYS[1], 'x')
if x ~= '4294967295' then
  redis.call('ZADD', KEYS[2], num(tonumber(ARGV[3]) + tonumber(x) * 1000), ARGV[4])
end
local st = redis.call('HGETALL', KEYS[1])
if ARGV[5] == '1' then redis.call('HDEL', KEYS[1], 'w') end
indexWill(KEYS[1], KEYS[4], ARGV[4])
return st
`)
