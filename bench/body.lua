-- wrk script: POST pre-generated bodies, one per line of the file named by $WRK_BODIES: JSON, or
-- whatever Content-Type the command line gives with -H (the OIDC bench posts forms).
--
-- Each body is sent at most once per run (registration bodies carry a one-time captcha token
-- and a distinct phone number).  With several wrk threads, thread i sends lines i, i+n, i+2n...
-- When the file runs out the script starts over and says so on stderr: the driver makes the file
-- big enough that this never happens in a timed run, and checks.

local file = os.getenv("WRK_BODIES")
local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
local bodies = {}
for line in io.lines(file) do
  if #line > 0 then bodies[#bodies + 1] = line end
end

wrk.method = "POST"
wrk.headers["Content-Type"] = wrk.headers["Content-Type"] or "application/json"

local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local i = nil
local wrapped = false
function request()
  if i == nil then i = (tid or 0) + 1 end
  if i > #bodies then
    i = i - #bodies
    if not wrapped then
      io.stderr:write("body.lua: ran out of bodies, reusing them\n")
      wrapped = true
    end
  end
  local body = bodies[i]
  i = i + nthreads
  return wrk.format(nil, nil, nil, body)
end
