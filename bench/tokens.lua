-- wrk script: GET with a bearer token taken in turn from the file named by $WRK_TOKENS (one a line),
-- so that a run reads the sessions (and histories) of many accounts spread over the table, not one
-- cached row (bench/scale.py).
local tokens = {}
for line in io.lines(os.getenv("WRK_TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local i = 0
function request()
  i = i % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[i] }, nil)
end
