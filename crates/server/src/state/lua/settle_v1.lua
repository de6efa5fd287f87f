-- vibectl settle, script version 1 (key schema <prefix>v1:).
-- Releases a lease, corrects the reservation by the difference between actual and estimate,
-- and adds the call to the usage ledger, atomically and at most once per lease.
-- ARGV: 1 prefix, 2 lease, 3 delta_tokens, 4 delta_cost_micro, 5 minute, 6 day, 7 month,
--       8 subject, 9 model, 10 requests, 11 errors, 12 input, 13 output, 14 cache_read,
--       15 cache_write, 16 cost_pico, 17 ledger_ttl_s, 18 n_scopes, then the scope names.
local P = ARGV[1]
local lease = ARGV[2]
-- Idempotent: a retried settlement (the first answer lost to a timeout) changes nothing.
if not redis.call('SET', P .. 'settled:' .. lease, '1', 'NX', 'EX', 3600) then return 0 end
local dt, dc = ARGV[3], ARGV[4]
local minute, day, month = ARGV[5], ARGV[6], ARGV[7]
local n = tonumber(ARGV[18])
local function adjust(key, d)
  if tonumber(d) ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, d) end
end
for i = 0, n - 1 do
  local k = P .. ARGV[19 + i]
  redis.call('ZREM', k .. ':conc', lease)
  adjust(k .. ':tpm:' .. minute, dt)
  adjust(k .. ':tpd:' .. day, dt)
  adjust(k .. ':cd:' .. day, dc)
  adjust(k .. ':cm:' .. month, dc)
end
local subject, model = ARGV[8], ARGV[9]
local row = P .. 'u:' .. day .. ':' .. string.len(subject) .. ':' .. subject .. ':' .. model
redis.call('HSETNX', row, 'subject', subject)
redis.call('HSETNX', row, 'model', model)
redis.call('HSETNX', row, 'day', day)
local fields = {'requests', 'errors', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens', 'cost_pico'}
for j, f in ipairs(fields) do
  local v = ARGV[9 + j]
  if v ~= '0' then redis.call('HINCRBY', row, f, v) end
end
local ttl = tonumber(ARGV[17])
redis.call('EXPIRE', row, ttl)
redis.call('SADD', P .. 'ud:' .. day, row)
redis.call('EXPIRE', P .. 'ud:' .. day, ttl)
redis.call('SADD', P .. 'udays', day)
return 1
