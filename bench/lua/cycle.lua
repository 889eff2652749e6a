-- wrk driver for bench/bench.py: cycles through a fixed list of requests.
--
--   wrk -t T -c C -d Ds -s bench/lua/cycle.lua http://127.0.0.1:PORT -- REQUESTS.lua T
--
-- REQUESTS.lua (written by bench.py) returns a Lua table of requests, each
-- { method, path [, body [, content_type]] }. Every request is formatted once
-- in init() so the measured loop only indexes a table. Each wrk thread starts
-- at a different offset of the list. done() prints one line "BENCH_JSON {...}"
-- with the summary, the latency percentiles in microseconds and the status
-- counts.
--
-- Statuses are counted per thread by response() only when the environment has
-- FHIRTERM_BENCH_STATUSES=1 (bench.py sets it for tests that expect a status
-- other than 200, such as LK05's 404, so those can be told from errors). wrk
-- hands every response's headers and body to Lua once response() exists, which
-- measured 8-12 us more of wrk's CPU per request on the two cores it shares
-- with the server; without it, wrk's own count of statuses above 399 is the
-- error count (summary.errors.status).

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
local i = 0

function init(args)
  local list = dofile(args[1])
  local nthreads = tonumber(args[2] or "1") or 1
  for k, r in ipairs(list) do
    local headers = { ["Accept"] = "application/fhir+json" }
    if r[3] ~= nil then
      headers["Content-Type"] = r[4] or "application/fhir+json"
    end
    reqs[k] = wrk.format(r[1], r[2], headers, r[3])
  end
  n = #reqs
  if n == 0 then
    error("no requests in " .. tostring(args[1]))
  end
  -- tid is set by setup() before init() runs in this thread's state
  i = math.floor((tid or 0) * n / nthreads) % n
  statuses = {}
end

function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end

if os.getenv("FHIRTERM_BENCH_STATUSES") == "1" then
  function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
  end
end

local function num(x)
  return string.format("%.17g", x)
end

function done(summary, latency, requests)
  local counts = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses")
    if s ~= nil then
      for code, c in pairs(s) do
        counts[code] = (counts[code] or 0) + c
      end
    end
  end
  local parts = {}
  for code, c in pairs(counts) do
    table.insert(parts, string.format('"%d":%s', code, num(c)))
  end
  local e = summary.errors
  local out = {
    '"requests":' .. num(summary.requests),
    '"duration_us":' .. num(summary.duration),
    '"bytes":' .. num(summary.bytes),
    '"errors":{"connect":' .. num(e.connect) .. ',"read":' .. num(e.read) ..
      ',"write":' .. num(e.write) .. ',"status":' .. num(e.status) ..
      ',"timeout":' .. num(e.timeout) .. '}',
    '"latency_us":{"min":' .. num(latency.min) .. ',"max":' .. num(latency.max) ..
      ',"mean":' .. num(latency.mean) .. ',"stdev":' .. num(latency.stdev) ..
      ',"p50":' .. num(latency:percentile(50)) .. ',"p90":' .. num(latency:percentile(90)) ..
      ',"p95":' .. num(latency:percentile(95)) .. ',"p99":' .. num(latency:percentile(99)) .. '}',
    '"statuses":{' .. table.concat(parts, ",") .. '}',
  }
  io.write("BENCH_JSON {" .. table.concat(out, ",") .. "}\n")
end
