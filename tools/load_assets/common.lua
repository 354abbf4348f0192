-- Shared by every wrk script of the tools (the load mixes, bench_assets/post.lua): the JSON
-- result line tools/wrk.py reads (latency in milliseconds, from wrk's own histogram).
wrk.headers["Content-Type"] = "application/json"

function report(summary, latency)
  local e = summary.errors
  local function ms(p) return latency:percentile(p) / 1000 end
  io.write(string.format(
    'LOAD_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d,"p50_ms":%.3f,"p75_ms":%.3f,"p90_ms":%.3f,"p95_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    ms(50), ms(75), ms(90), ms(95), ms(99), latency.max / 1000))
end
