-- wrk script of `make bench` (scripts/bench-serve.sh): POST /v1/predict bodies cycling through the samples in
-- SAMPLES (comma-separated ids of the dataset DATA), stopping after REQUESTS answers (wrk's -d bounds the time).
-- Run with one thread (-t1) so that REQUESTS counts every answer; non-2xx answers are counted and printed.
local data = os.getenv("DATA") or error("DATA is not set")
local samples = {}
for id in string.gmatch(os.getenv("SAMPLES") or error("SAMPLES is not set"), "[^,]+") do samples[#samples + 1] = id end
local limit = tonumber(os.getenv("REQUESTS") or "0")
local sent, answered, failed = 0, 0, 0
local headers = { ["Content-Type"] = "application/json" }
if os.getenv("TOKEN") then headers["Authorization"] = "Bearer " .. os.getenv("TOKEN") end

function request()
    local id = samples[(sent % #samples) + 1]
    sent = sent + 1
    return wrk.format("POST", "/v1/predict", headers, '{"data": "' .. data .. '", "sample": "' .. id .. '"}')
end

function response(status, _, body)
    answered = answered + 1
    if status ~= 200 then
        failed = failed + 1
        if failed <= 3 then io.stderr:write("HTTP " .. status .. ": " .. string.sub(body, 1, 300) .. "\n") end
    end
    if limit > 0 and answered >= limit then wrk.thread:stop() end
end

function done(summary, latency, _)
    -- One JSON line, as scripts/serve_load.py prints.
    local seconds = summary.duration / 1e6
    io.write(string.format(
        '{"requests": %d, "errors": %d, "non_2xx": %d, "seconds": %.3f, "per_second": %.2f, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
        summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
end
