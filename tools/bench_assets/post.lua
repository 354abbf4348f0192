-- wrk script: POST a recommendation request for a random known user.
-- BENCH_USERS: how many user ids ("1".."N"); BENCH_DELAY_MS: per-connection pause (rate limit).
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "../load_assets/common.lua")

wrk.method = "POST"
local users = tonumber(os.getenv("BENCH_USERS") or "943")
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")

request = function()
  return wrk.format(nil, nil, nil, string.format('{"user_id":"%d","k":10}', math.random(1, users)))
end

if pause > 0 then
  delay = function()
    return pause
  end
end

done = function(summary, latency, requests) report(summary, latency) end
