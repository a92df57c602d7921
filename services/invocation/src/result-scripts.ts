// The Lua steps of the 202 result store (result-store.ts): each multi-key change of one result is one
// script, so Redis applies it whole. Keys of one result share a hash tag (one cluster slot).

// KEYS: meta, body, claim, owner lease. ARGV: account, claim token, claim lease ms.
// A pending result whose owner's lease ran out (the instance died, or could not reach Redis to keep
// it) is lost for good: marked so, and every poll says 500 SY_RESULT_LOST until it expires.
// A ready result is claimed by one poller at a time (a lease, renewed as its body is read); it stays
// stored until that poller says it was fully delivered, so a poller that drops mid-body loses nothing.
export const CLAIM = `
local m = redis.call('HMGET', KEYS[1], 'state', 'account', 'status', 'headers')
if not m[1] or m[2] ~= ARGV[1] then return false end
if m[1] == 'lost' then return {'lost'} end
if m[1] == 'pending' then
  if redis.call('EXISTS', KEYS[4]) == 1 then return {'pending'} end
  redis.call('HSET', KEYS[1], 'state', 'lost')
  return {'lost'}
end
if m[1] ~= 'ready' then return {'pending'} end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return {'pending'} end
local lease = tonumber(ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'PX', lease)
for i = 1, 2 do
  local left = redis.call('PTTL', KEYS[i])
  if left >= 0 and left < lease then redis.call('PEXPIRE', KEYS[i], lease) end
end
return {'ready', m[3], m[4]}
`;

// KEYS: meta, body. ARGV: chunk index, chunk, ttl ms. Idempotent (a retried write after a lost reply
// adds nothing twice); the body never outlives the pending record it belongs to.
export const PUSH = `
if redis.call('HGET', KEYS[1], 'state') ~= 'pending' then return -1 end
local n = redis.call('LLEN', KEYS[2])
if n == tonumber(ARGV[1]) then redis.call('RPUSH', KEYS[2], ARGV[2]) end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
return n
`;

// KEYS: meta, body, owner lease. ARGV: account, status, headers JSON, ttl ms. Body and metadata get one expiry,
// set together, so a late poll never finds the metadata of a body that already expired.
export const READY = `
redis.call('HSET', KEYS[1], 'state', 'ready', 'account', ARGV[1], 'status', ARGV[2], 'headers', ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('DEL', KEYS[3])
return 1
`;

// KEYS: meta, body, claim, owner lease. ARGV: claim token. Deletes a result its claimer delivered in full.
export const DELIVERED = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
return 1
`;

// KEYS: claim. ARGV: claim token. Gives a claim up (the result stays for the next poll).
export const RELEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;
