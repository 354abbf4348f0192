-- wrk script: POST a top-10 recommendation request for a random user.
-- BENCH_USERS: how many known user ids ("1".."N"); BENCH_UNSEEN_PCT: the percentage of requests
-- for users the model has never seen ("guest-1".."guest-1000000", no context);
-- BENCH_DELAY_MS: per-connection pause (rate limit).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "../load_assets/common.lua")

wrk.method = "POST"
local users = tonumber(os.getenv("BENCH_USERS") or "943")
local unseen = tonumber(os.getenv("BENCH_UNSEEN_PCT") or "0")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

request = function()
  local user
  if math.random(100) <= unseen then
    user = string.format("guest-%d", math.random(1, 1000000))
  else
    user = string.format("%d", math.random(1, users))
  end
  return wrk.format(nil, nil, nil, string.format('{"user_id":"%s","k":10}', user))
end

if pause > 0 then
  delay = function()
    return pause
  end
end

done = function(summary, latency, requests) report(summary, latency) end
