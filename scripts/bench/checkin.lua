-- wrk script for scripts/bench/checkin.
-- With an argument (a file of pre-signed check-in bodies, one JSON object per line): POST each
-- body once to /api/v1/checkins and stop when every one has been answered (answers are told
-- apart by checkin_id). Connections that find no body left resend the last one: idempotent
-- repeats, answered 200, never new rows. The run then ends at once (SIGINT to wrk, which cuts
-- its -d sleep short) instead of waiting out the duration.
-- Without an argument: plain GET of the URL (the bare baseline).
-- Either way done() prints one JSON line the bench parses.

local requests = {}
local total = 0
local next_index = 0
local answered = 0
local seen = {}
created, repeated, pending, failed = 0, 0, 0, 0
first_failure = ""
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  if path == nil then
    return
  end
  local headers = { ["Content-Type"] = "application/json", ["User-Agent"] = "presensi-bench" }
  for line in io.lines(path) do
    requests[#requests + 1] = wrk.format("POST", "/api/v1/checkins", headers, line)
  end
  total = #requests
end

local verified = false

function request()
  if total == 0 then
    return wrk.format("GET")
  end
  -- wrk calls request() once on thread 1 to check the script before any connection opens:
  -- hand it the first body without using it up. (The bench runs wrk with one thread.)
  if not verified then
    verified = true
    return requests[1]
  end
  next_index = next_index + 1
  if next_index > total then
    next_index = total
  end
  return requests[next_index]
end

function response(status, headers, body)
  if total == 0 then
    return
  end
  local id = string.match(body or "", '"checkin_id":(%d+)')
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    repeated = repeated + 1
  elseif status == 202 then
    pending = pending + 1
  else
    failed = failed + 1
    if first_failure == "" then
      first_failure = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
  if id == nil then
    answered = answered + 1
  elseif not seen[id] then
    seen[id] = true
    answered = answered + 1
  end
  if answered == total then
    answered = answered + 1 -- once
    -- system() ignores SIGINT while it waits, so the signal comes from a background shell.
    os.execute("(sleep 0.02; kill -INT $PPID) &")
  end
end

function done(summary, latency, requests_stats)
  local c, r, p, f, ff = 0, 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    c = c + (thread:get("created") or 0)
    r = r + (thread:get("repeated") or 0)
    p = p + (thread:get("pending") or 0)
    f = f + (thread:get("failed") or 0)
    if ff == "" then
      ff = thread:get("first_failure") or ""
    end
  end
  local e = summary.errors
  io.write(string.format(
    '{"duration_us":%d,"requests":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,'
      .. '"timeouts":%d,"created":%d,"repeated":%d,"pending":%d,"failed":%d,"first_failure":%q}\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout, c, r, p, f, ff))
end
