-- wrk script for the lab: bounded load over a weighted mix of paths.
--
-- Environment (read once per wrk thread):
--   LAB_PATHS     "path=weight,path=weight" (default "/healthy=1")
--   LAB_DELAY_MS  pause of each connection between its requests, which
--                 bounds the request rate (Debian's wrk has no --rate)
--   LAB_RESULT    file that done() writes one JSON line to: latency
--                 percentiles in microseconds, requests, errors
local paths = {}
local delay_ms = tonumber(os.getenv("LAB_DELAY_MS") or "0") or 0

function init(args)
    local spec = os.getenv("LAB_PATHS") or "/healthy=1"
    for item in string.gmatch(spec, "[^,]+") do
        local path, weight = string.match(item, "^([^=]+)=(%d+)$")
        if path == nil then
            path, weight = item, "1"
        end
        for _ = 1, tonumber(weight) do
            paths[#paths + 1] = path
        end
    end
    math.randomseed(os.time())
end

function request()
    return wrk.format("GET", paths[math.random(#paths)])
end

function delay()
    return delay_ms
end

function done(summary, latency, requests)
    local out = os.getenv("LAB_RESULT")
    if out == nil or out == "" then
        return
    end
    local f = assert(io.open(out, "w"))
    local e = summary.errors
    f:write(string.format(
        '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, ' ..
        '"p99_us": %d, "max_us": %d, "connect": %d, "read": %d, ' ..
        '"write": %d, "status": %d, "timeout": %d}\n',
        summary.requests, summary.duration, latency:percentile(50),
        latency:percentile(90), latency:percentile(99), latency.max,
        e.connect, e.read, e.write, e.status, e.timeout))
    f:close()
end
