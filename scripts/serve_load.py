"""Load for `make bench` (scripts/bench-serve.sh): CONCURRENCY clients send REQUESTS requests in all to one loopback
server, bounded by --max-seconds; prints throughput and latency percentiles as one JSON line."""
import argparse
import asyncio
import json
import time

import httpx


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default=None, help="JSON body")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--token", default=None)
    a = parser.parse_args()
    assert a.url.startswith(("http://127.", "http://localhost")), "loopback only"
    body = json.loads(a.body) if a.body else None
    latencies, errors = [], 0
    remaining = a.requests
    deadline = time.monotonic() + a.max_seconds
    headers = {"Authorization": f"Bearer {a.token}"} if a.token else {}
    async with httpx.AsyncClient(base_url=a.url, timeout=a.max_seconds, headers=headers) as client:
        async def worker():
            nonlocal remaining, errors
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                start = time.perf_counter()
                response = await client.request(a.method, a.path, json=body)
                latencies.append(time.perf_counter() - start)
                if response.status_code >= 400:
                    errors += 1
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(a.concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000
    print(json.dumps({"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 3),
                      "per_second": round(len(latencies) / elapsed, 2), "p50_ms": round(pick(0.5), 2),
                      "p99_ms": round(pick(0.99), 2), "max_ms": round(latencies[-1] * 1000, 2)}))


asyncio.run(main())
