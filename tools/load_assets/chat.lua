-- The chat mix: 20% first turns (a new session), 60% further turns of existing sessions
-- (recommend / more like / something else / small talk), 20% history reads.
-- LOAD_SESSIONS: a file of "session_id user_id" lines created by tools/load.py before the run.
local dir = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
dofile(dir .. "common.lua")

local sessions = {}
local messages = {
  "recommend me a comedy", "more like the second one", "something else",
  "hello there", "what would you suggest tonight?", "recommend a drama",
}

init = function(args)
  local f = assert(io.open(os.getenv("LOAD_SESSIONS"), "r"))
  for line in f:lines() do
    local sid, uid = line:match("(%S+) (%S+)")
    if sid then table.insert(sessions, { sid, uid }) end
  end
  f:close()
end

request = function()
  local r = math.random(100)
  if r <= 20 then
    return wrk.format("POST", "/api/v2/chat", nil, string.format(
      '{"user_id":"load-new-%d","message":"recommend me a comedy"}', math.random(1, 1000000)))
  end
  local s = sessions[math.random(#sessions)]
  if r <= 80 then
    return wrk.format("POST", "/api/v2/chat", nil, string.format(
      '{"user_id":"%s","session_id":"%s","message":"%s"}', s[2], s[1],
      messages[math.random(#messages)]))
  end
  return wrk.format("GET", string.format("/api/v2/session/%s?user_id=%s&limit=20", s[1], s[2]))
end

done = function(summary, latency, requests) report(summary, latency) end
