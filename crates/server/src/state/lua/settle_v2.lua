-- vibectl settle, script version 2 (key schema <prefix>v1:).
-- Releases a lease, corrects the reservation by the difference between actual and estimate,
-- and adds the call to the usage ledger, atomically and at most once per lease.
-- ARGV: 1 prefix, 2 lease, 3 delta_tokens, 4 delta_cost_micro, 5 minute, 6 day, 7 month,
--       8 subject, 9 model, 10 api, 11 requests, 12 errors, 13 input, 14 output,
--       15 cache_read, 16 cache_write, 17 cost_pico, 18 ledger_ttl_s, 19 n_scopes, then the
--       scope names.
-- Version 2 adds the API (grpc, openai, anthropic) to the ledger row: rows are hashes
-- <prefix>v1:ua:<day>:<api>:<len(subject)>:<subject>:<model> with an `api` field. Version 1
-- rows (<prefix>v1:u:..., no `api` field, all gRPC) stay readable: the reader counts them as
-- grpc and adds them to a version 2 row of the same key.
local P = ARGV[1]
local lease = ARGV[2]
-- Idempotent: a retried settlement (the first answer lost to a timeout) changes nothing.
if not redis.call('SET', P .. 'settled:' .. lease, '1', 'NX', 'EX', 3600) then return 0 end
local dt, dc = ARGV[3], ARGV[4]
local minute, day, month = ARGV[5], ARGV[6], ARGV[7]
local n = tonumber(ARGV[19])
local function adjust(key, d)
  if tonumber(d) ~= 0 and redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, d) end
end
for i = 0, n - 1 do
  local k = P .. ARGV[20 + i]
  redis.call('ZREM', k .. ':conc', lease)
  adjust(k .. ':tpm:' .. minute, dt)
  adjust(k .. ':tpd:' .. day, dt)
  adjust(k .. ':cd:' .. day, dc)
  adjust(k .. ':cm:' .. month, dc)
end
local subject, model, api = ARGV[8], ARGV[9], ARGV[10]
local row = P .. 'ua:' .. day .. ':' .. api .. ':' .. string.len(subject) .. ':' .. subject .. ':' .. model
redis.call('HSETNX', row, 'subject', subject)
redis.call('HSETNX', row, 'model', model)
redis.call('HSETNX', row, 'api', api)
redis.call('HSETNX', row, 'day', day)
local fields = {'requests', 'errors', 'input_tokens', 'output_tokens', 'cache_read_tokens',
  'cache_write_tokens', 'cost_pico'}
for j, f in ipairs(fields) do
  local v = ARGV[10 + j]
  if v ~= '0' then redis.call('HINCRBY', row, f, v) end
end
local ttl = tonumber(ARGV[18])
redis.call('EXPIRE', row, ttl)
redis.call('SADD', P .. 'ud:' .. day, row)
redis.call('EXPIRE', P .. 'ud:' .. day, ttl)
redis.call('SADD', P .. 'udays', day)
return 1
