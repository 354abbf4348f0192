-- The recommend mix: 75% plain top-10 requests for known users, 10% with a context
-- (features, exclusions, recent items), 5% cold-start users, 10% feedback: 5% lists for one of
-- 30 feedback users, 5% clicks on one of their items with the list's token (claims and a
-- store write that later requests of the same user read back as recent events).
-- Feedback needs the token of a list served to the same user, and wrk's response callback
-- does not say which request it answers; so feedback user i asks for k = 11 + i items, and an
-- answer's item count names its user (the other requests ask for 10 or 5). Spreading the
-- clicks over 30 users keeps them off one hot document, as real traffic would.
-- LOAD_USERS / LOAD_ITEMS: how many demo user and item ids exist ("user-0000", "item-0000").
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")

local users = tonumber(os.getenv("LOAD_USERS") or "150")
local items = tonumber(os.getenv("LOAD_ITEMS") or "160")
local n = 0
local FEEDBACK_USERS = 30
local served = {}  -- {token, user, item} of feedback lists, each clicked once

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
  elseif #served > 0 and r <= 95 then
    local list = table.remove(served)
    return wrk.format("POST", "/api/v2/recommendations/feedback", nil, string.format(
      '{"request_id":"%s","user_id":"%s","item_id":"%s","event":"click"}',
      list[1], list[2], list[3]))
  else
    local i = math.random(0, FEEDBACK_USERS - 1)
    return wrk.format("POST", "/api/v2/recommendations", nil,
      string.format('{"user_id":"user-%04d","k":%d}', i, 11 + i))
  end
end

response = function(status, headers, body)
  if status ~= 200 or #served >= 100 then return end
  local _, count = body:gsub('"item_id"', "")
  local i = count - 11
  if i >= 0 and i < FEEDBACK_USERS then
    local token = body:match('"request_id":"([^"]+)"')
    local item = body:match('"item_id":"([^"]+)"')
    if token and item then
      table.insert(served, {token, string.format("user-%04d", i), item})
    end
  end
end

done = function(summary, latency, requests) report(summary, latency) end
