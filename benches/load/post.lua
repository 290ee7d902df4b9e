-- wrk script: POST one CDex Communication (benches/load/communication.json, about 400
-- bytes; another with BODY=FILE) as FHIR JSON. Used by benches/load/simulate.sh.
local path = os.getenv("BODY") or "benches/load/communication.json"
local f = assert(io.open(path, "rb"), "cannot read " .. path)
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/fhir+json"
