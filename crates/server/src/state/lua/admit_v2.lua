-- vibectl admit, script version 2 (key schema <prefix>v1:).
-- Checks every limit of every scope; only if all allow the call, counts it and reserves its
-- prompt bound plus the output it is granted. Atomic: Redis runs one script at a time.
-- ARGV: 1 prefix, 2 lease, 3 est_tokens (prompt bound), 4 est_cost_micro (prompt bound),
--       5 lease_ttl_ms, 6 window_ms, 7 day, 8 month, 9 ms_to_next_day, 10 ms_to_next_month,
--       11 max_output_tokens, 12 output_pico_per_token, 13 n_scopes,
--       then per scope 7 values: name, rpm, concurrency, tpm, tpd, budget_day, budget_month
--       (-1 = unlimited; 0 = nothing allowed).
-- Output granted: the least that any token limit or budget leaves after the prompt, at most
-- max_output_tokens; a call that cannot get at least one output token is refused.
-- Returns {1, minute, output_tokens} when admitted, {0, kind, retry_after_ms, scope} when refused.
-- Same arithmetic as the embedded store (state/embedded.rs); the conformance suite checks both.
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
local max_out = tonumber(ARGV[11])
local out_pico = tonumber(ARGV[12])
local n = tonumber(ARGV[13])
local minute = math.floor(now / 60000)
local to_minute = (minute + 1) * 60000 - now
local out = max_out
local need = 1
if max_out < 1 then need = 0 end

local kind, wait, where = nil, 0, nil
local function refuse(k, w, s)
  if kind == nil then kind = k; where = s end
  if w > wait then wait = w end
end
local function num(key)
  return tonumber(redis.call('GET', key) or '0')
end
-- What is left of limit `max` after `used` and the prompt bound `est`; nil refuses.
local function room(max, used, est)
  if max == 0 then return nil end
  local left = max - used - est
  if left < 0 then return nil end
  return left
end
-- Output tokens `left` micro-USD pay for, at most max_out (all of it when output is free).
local function pays(left)
  if out_pico <= 0 then return max_out end
  local k = math.floor(left * 1000000 / out_pico)
  -- Guard against rounding of large doubles: the cost of k tokens, rounded up, must fit.
  while k > 0 and math.ceil(k * out_pico / 1000000) > left do k = k - 1 end
  if k > max_out then k = max_out end
  return k
end
local function cap_tokens(max, key, w, s)
  if max < 0 then return end
  local left = room(max, num(key), est_t)
  if left == nil or left < need then refuse('tokens', w, s)
  elseif left < out then out = left end
end
local function cap_budget(max, key, w, s)
  if max < 0 then return end
  local left = room(max, num(key), est_c)
  local k = nil
  if left ~= nil then k = pays(left) end
  if k == nil or k < need then refuse('budget', w, s)
  elseif k < out then out = k end
end

for i = 0, n - 1 do
  local b = 14 + i * 7
  local s = ARGV[b]
  local rpm, conc = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  local tpm, tpd = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local bday, bmonth = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6])
  local k = P .. s
  if rpm == 0 then
    refuse('rpm', window, s)
  elseif rpm > 0 then
    redis.call('ZREMRANGEBYSCORE', k .. ':rpm', '-inf', now - window)
    local c = redis.call('ZCARD', k .. ':rpm')
    if c >= rpm then
      local e = redis.call('ZRANGE', k .. ':rpm', c - rpm, c - rpm, 'WITHSCORES')
      local w = tonumber(e[2]) + window - now
      if w < 1 then w = 1 end
      refuse('rpm', w, s)
    end
  end
  if conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', k .. ':conc', '-inf', now)
    if redis.call('ZCARD', k .. ':conc') >= conc then refuse('concurrency', 250, s) end
  end
  cap_tokens(tpm, k .. ':tpm:' .. minute, to_minute, s)
  cap_tokens(tpd, k .. ':tpd:' .. day, to_day, s)
  cap_budget(bday, k .. ':cd:' .. day, to_day, s)
  cap_budget(bmonth, k .. ':cm:' .. month, to_month, s)
end
if kind ~= nil then return {0, kind, wait, where} end

local res_t = est_t + out
local res_c = est_c + math.ceil(out * out_pico / 1000000)
for i = 0, n - 1 do
  local b = 14 + i * 7
  local k = P .. ARGV[b]
  if tonumber(ARGV[b + 1]) > 0 then
    redis.call('ZADD', k .. ':rpm', now, lease)
    redis.call('PEXPIRE', k .. ':rpm', window + 1000)
  end
  if tonumber(ARGV[b + 2]) > 0 then
    redis.call('ZADD', k .. ':conc', now + ttl, lease)
    redis.call('PEXPIRE', k .. ':conc', ttl + 60000)
  end
  redis.call('INCRBY', k .. ':tpm:' .. minute, res_t)
  redis.call('PEXPIRE', k .. ':tpm:' .. minute, 180000)
  redis.call('INCRBY', k .. ':tpd:' .. day, res_t)
  redis.call('EXPIRE', k .. ':tpd:' .. day, 172800)
  redis.call('INCRBY', k .. ':cd:' .. day, res_c)
  redis.call('EXPIRE', k .. ':cd:' .. day, 172800)
  redis.call('INCRBY', k .. ':cm:' .. month, res_c)
  redis.call('EXPIRE', k .. ':cm:' .. month, 2764800)
end
return {1, minute, out, res_t, res_c}
