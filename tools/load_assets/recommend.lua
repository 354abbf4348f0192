-- The recommend mix: 75% plain top-10 requests for known users, 10% with a context
-- (features, exclusions, recent items), 5% cold-start users, 10% click feedback (a store write
-- that later requests of the same user read back as recent events).
-- LOAD_USERS / LOAD_ITEMS: how many demo user and item ids exist ("user-0000", "item-0000").
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")

local users = tonumber(os.getenv("LOAD_USERS") or "150")
local items = tonumber(os.getenv("LOAD_ITEMS") or "160")
local n = 0

local function user() return string.format("user-%04d", math.random(0, users - 1)) end
local function item() return string.format("item-%04d", math.random(0, items - 1)) end

request = function()
  n = n + 1
  local r = math.random(100)
  if r <= 75 then
    return wrk.format("POST", "/api/v2/recommendations", nil,
      string.format('{"user_id":"%s","k":10}', user()))
  elseif r <= 85 then
    return wrk.format("POST", "/api/v2/recommendations", nil, string.format(
      '{"user_id":"%s","k":5,"context":{"features":["drama"],"exclude":["%s","%s"],' ..
      '"recent_items":["%s"],"persona":{"segment":"student"}}}', user(), item(), item(), item()))
  elseif r <= 90 then
    return wrk.format("POST", "/api/v2/recommendations", nil,
      string.format('{"user_id":"newcomer-%d","k":10}', math.random(1, 100000)))
  else
    return wrk.format("POST", "/api/v2/recommendations/feedback", nil, string.format(
      '{"request_id":"load%08d","user_id":"%s","item_id":"%s","event":"click"}', n, user(), item()))
  end
end

done = function(summary, latency, requests) report(summary, latency) end
