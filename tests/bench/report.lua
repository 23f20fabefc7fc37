-- wrk script for tests/bench/run-bench: one new connection per request
-- (Connection: close), and a machine-readable summary line at the end.
wrk.headers["Connection"] = "close"

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d " ..
      "status=%d timeout=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d " ..
      "max_us=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write,
      e.status, e.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max))
end
