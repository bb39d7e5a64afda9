-- wrk script of `make bench` (scripts/bench-serve.sh): GET the URL given to wrk; prints one JSON line (as
-- scripts/serve_load.py does). wrk's -d bounds the time, its connections the concurrency.
function done(summary, latency, _)
    local seconds = summary.duration / 1e6
    io.write(string.format(
        '{"requests": %d, "errors": %d, "non_2xx": %d, "seconds": %.3f, "per_second": %.2f, "p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
        summary.requests, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
        summary.errors.status, seconds, summary.requests / seconds, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000))
end
