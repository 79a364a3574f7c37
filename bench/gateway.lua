-- wrk script for bench/run: requests as a gateway sends them, every answer checked before it counts.
--
--   wrk ... -s bench/gateway.lua URL -- EXPECT [FINGERPRINTS]
--
-- EXPECT: `user` (200 and an X-Certmap-User of the bench's certificates), `200` or `304`.
-- FINGERPRINTS: a file of SHA-256s, one a line, or of `SITE SHA-256` lines; each request presents
-- the next one (at its site), every thread starting elsewhere, so the requests spread over all the
-- mappings rather than one hot key.
-- The fixed headers (credential, site, URI, If-None-Match) come from the script bench/run makes.
-- done() prints `checked N bad M first-bad S`; bench/run refuses the run unless M is 0.

local threads = {}
local fingerprints, sites, count, at = {}, {}, 0, 0
checked, bad, first_bad = 0, 0, ""

function setup(thread)
    thread:set("id", #threads)
    table.insert(threads, thread)
end

function init(args)
    expect = args[1]
    if args[2] then
        for line in io.lines(args[2]) do
            count = count + 1
            local site, sha = line:match("^(%S+) (%x+)$")
            sites[count] = site
            fingerprints[count] = sha or line
        end
        -- Threads start a prime stride apart.
        at = (id * 7919) % count
    end
end

function request()
    if count > 0 then
        at = at % count + 1
        wrk.headers["X-SSL-Client-SHA256"] = fingerprints[at]
        if sites[at] then wrk.headers["X-Certmap-Site"] = sites[at] end
    end
    return wrk.format()
end

local function wrong(status, headers)
    if expect == "304" then return status ~= 304 end
    if status ~= 200 then return true end
    if expect == "user" then
        local user = headers["x-certmap-user"] or headers["X-Certmap-User"] or ""
        return not user:match("^BENCH\\user%d%d%d%d%d%d%d$")
    end
    return false
end

function response(status, headers, body)
    checked = checked + 1
    if wrong(status, headers) then
        bad = bad + 1
        if first_bad == "" then first_bad = tostring(status) end
    end
end

function done(summary, latency, requests)
    local c, b, f = 0, 0, ""
    for _, t in ipairs(threads) do
        c = c + t:get("checked")
        b = b + t:get("bad")
        if f == "" then f = t:get("first_bad") end
    end
    io.write(string.format("checked %d bad %d first-bad %s\n", c, b, f))
end
