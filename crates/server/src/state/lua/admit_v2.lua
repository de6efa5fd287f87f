-- vibectl admit, script version 1 (key schema <prefix>v1:).
-- Checks every limit of every scope; only if all allow the call, counts it and reserves its
-- estimate. Atomic: Redis runs one script at a time.
-- ARGV: 1 prefix, 2 lease, 3 est_tokens, 4 est_cost_micro, 5 lease_ttl_ms, 6 window_ms,
--       7 day, 8 month, 9 ms_to_next_day, 10 ms_to_next_month, 11 n_scopes,
--       then per scope 7 values: name, rpm, concurrency, tpm, tpd, budget_day, budget_month
--       (0 = unlimited).
-- Returns {1, minute} when admitted, {0, kind, retry_after_ms, scope} when refused.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local P = ARGV[1]
local lease = ARGV[2]
local est_t = tonumber(ARGV[3])
local est_c = tonumber(ARGV[4])
local ttl = tonumber(ARGV[5])
local window = tonumber(ARGV[6])
local day, month = ARGV[7], ARGV[8]
local to_day, to_month = tonumber(ARGV[9]), tonumber(ARGV[10])
local n = tonumber(ARGV[11])
local minute = math.floor(now / 60000)
local to_minute = (minute + 1) * 60000 - now

local kind, wait, where = nil, 0, nil
local function refuse(k, w, s)
  if kind == nil then kind = k; where = s end
  if w > wait then wait = w end
end
local function num(key)
  return tonumber(redis.call('GET', key) or '0')
end

for i = 0, n - 1 do
  local b = 12 + i * 7
  local s = ARGV[b]
  local rpm, conc = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local tpm, tpd = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local bday, bmonth = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
  local k = P .. s
  if rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', k .. ':rpm', '-inf', now - window)
    local c = redis.call('ZCARD', k .. ':rpm')
    if c >= rpm then
      local e = redis.call('ZRANGE', k .. ':rpm', c - rpm, c - rpm, 'WITHSCORES')
      local w = tonumber(e[2]) + window - now
      if w < 1 then w = 1 end
      refuse('rpm', w, s)
    end
  end
  if conc > 0 then
    redis.call('ZREMRANGEBYSCORE', k .. ':conc', '-inf', now)
    if redis.call('ZCARD', k .. ':conc') >= conc then refuse('concurrency', 250, s) end
  end
  if tpm > 0 and num(k .. ':tpm:' .. minute) + est_t > tpm then refuse('tokens', to_minute, s) end
  if tpd > 0 and num(k .. ':tpd:' .. day) + est_t > tpd then refuse('tokens', to_day, s) end
  if bday > 0 and num(k .. ':cd:' .. day) + est_c > bday then refuse('budget', to_day, s) end
  if bmonth > 0 and num(k .. ':cm:' .. month) + est_c > bmonth then refuse('budget', to_month, s) end
end
if kind ~= nil then return {0, kind, wait, where} end

for i = 0, n - 1 do
  local b = 12 + i * 7
  local k = P .. ARGV[b]
  if tonumber(ARGV[b + 1]) > 0 then
    redis.call('ZADD', k .. ':rpm', now, lease)
    redis.call('PEXPIRE', k .. ':rpm', window + 1000)
  end
  if tonumber(ARGV[b + 2]) > 0 then
    redis.call('ZADD', k .. ':conc', now + ttl, lease)
    redis.call('PEXPIRE', k .. ':conc', ttl + 60000)
  end
  redis.call('INCRBY', k .. ':tpm:' .. minute, est_t)
  redis.call('PEXPIRE', k .. ':tpm:' .. minute, 180000)
  redis.call('INCRBY', k .. ':tpd:' .. day, est_t)
  redis.call('EXPIRE', k .. ':tpd:' .. day, 172800)
  redis.call('INCRBY', k .. ':cd:' .. day, est_c)
  redis.call('EXPIRE', k .. ':cd:' .. day, 172800)
  redis.call('INCRBY', k .. ':cm:' .. month, est_c)
  redis.call('EXPIRE', k .. ':cm:' .. month, 2764800)
end
return {1, minute}
