-- wrk script for the ingest benchmark (bench/ingest.sh).
--   wrk ... -s bench/ingest.lua URL/v1/me/symptoms -- TOKENS single
--   wrk ... -s bench/ingest.lua URL/v1/me/batch    -- TOKENS batch 100
-- TOKENS is carecommons-gen's token file (one member token per line). Every request is one member's
-- (a random line), with a random catalog symptom and severity recorded now. done() prints one
-- machine-readable RESULT line for ingest.sh.

local symptoms = {"fatigue", "headache", "nausea", "joint_pain", "insomnia", "dizziness",
                  "anxiety", "cough"}
local threads = {}

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

local tokens, mode, batch, path

function init(args)
    tokens = {}
    for line in io.lines(args[1]) do
        if #line > 0 then
            tokens[#tokens + 1] = line
        end
        -- a bounded read: the generator writes at most 2 million tokens
        if #tokens >= 2000000 then break end
    end
    if #tokens == 0 then
        error("no tokens in " .. tostring(args[1]))
    end
    mode = args[2] or "single"
    batch = tonumber(args[3] or "100")
    if batch < 1 or batch > 1000 then
        error("batch size must be 1..1000")
    end
    path = wrk.path
    math.randomseed(os.time() * 1000 + tid)
end

local function entry(now)
    return string.format('"symptom":"%s","severity":%d,"recorded_at":"%s"',
                         symptoms[math.random(#symptoms)], math.random(0, 10), now)
end

function request()
    local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
    local body
    if mode == "batch" then
        local items = {}
        for i = 1, batch do
            items[i] = '{"type":"symptom",' .. entry(now) .. '}'
        end
        body = '{"items":[' .. table.concat(items, ",") .. ']}'
    else
        body = '{' .. entry(now) .. '}'
    end
    local headers = {
        ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
        ["Content-Type"] = "application/json",
    }
    return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    local e = summary.errors
    io.write(string.format(
        "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
        "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
        summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000, e.status, e.connect, e.read, e.write,
        e.timeout))
end
