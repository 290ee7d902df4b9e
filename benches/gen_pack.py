#!/usr/bin/env python3
"""Write a generated scenario pack (and the same exchanges for hurl and Newman).

    gen_pack.py DIR --scenarios N [--pairs P] [--actor information-server|information-recipient]
                    [--hurl FILE] [--newman FILE]

DIR gets N scenarios of P push/read pairs each: POST a CDex Communication (a copy of the
cdex-2019 pack's, ~600 bytes, with an identifier of its own) checked three ways (status 201, a
Location header, the subject kept), then GET it back by the id its Location gives, checked two
ways (status 200, the identifier kept). The pack's settings (vars, bearer token) are the
cdex-2019 pack's, so it runs against the built-in reference actors (`run --scenarios DIR`) or a
`simulate ACTOR` (`run --scenarios DIR --target URL --actor ACTOR`).

--hurl / --newman write the same exchanges and checks, one pair per scenario x pair, as a
Hurl file ({{base}} variable) and a Newman collection (`base` variable; the pairs of the
first scenario, with the iteration number in the identifier: run it with `-n N*P`... see
benches/peers/run.sh).
"""
import argparse
import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACK = os.path.join(ROOT, "scenarios", "cdex-2019")
TOKEN = "cdex-reference-token-8c1f"
PATIENT = "cdex-patient-1"
SYSTEM = "urn:cdex-harness:test"


def communication(key):
    with open(os.path.join(PACK, "information-server", "fixtures", "communication.json")) as f:
        text = f.read()
    return (
        text.replace("{{identifier_system}}", SYSTEM)
        .replace("{{comm_key}}", key)
        .replace("{{subject_id}}", PATIENT)
    )


REQS = {
    "information-server": ("CDEX-IS-PUSH", "CDEX-IS-PULL"),
    "information-recipient": ("CDEX-RCP-PUSH", "CDEX-UNSOL-RECEIVED"),
}


def scenario(n, pairs, actor):
    push_req, read_req = REQS[actor]
    sid = f"gen-{n:05d}"
    lines = [
        f"id: {sid}",
        f"title: Push Communication {n} and read it back ({pairs} time(s))",
        f"actor: {actor}",
        "steps:",
    ]
    for p in range(1, pairs + 1):
        key = f"{sid}-{p}-{{{{run_id}}}}"
        body = communication(key)
        lines += [
            f"  - id: push-{p}",
            "    send:",
            "      method: POST",
            "      path: Communication",
            "      body:",
            "        json: " + json.dumps(json.loads(body), separators=(",", ":")),
            "    capture:",
            f"      id_{p}: {{ header: Location, regex: 'Communication/([A-Za-z0-9\\-\\.]{{1,64}})' }}",
            "    assert:",
            "      - status: 201",
            f"        req: {push_req}",
            "      - header: Location",
            f"        req: {push_req}",
            f"      - fhirpath: \"subject.reference = 'Patient/{PATIENT}'\"",
            f"        req: {push_req}",
            f"  - id: read-{p}",
            "    send:",
            "      method: GET",
            f"      path: \"Communication/{{{{id_{p}}}}}\"",
            "    assert:",
            "      - status: 200",
            f"        req: {read_req}",
            f"      - fhirpath: \"identifier.value = '{key}'\"",
            f"        req: {read_req}",
        ]
    return sid, "\n".join(lines) + "\n"


def hurl(pairs_total):
    out = []
    for n in range(1, pairs_total + 1):
        key = f"hurl-{n}"
        out += [
            "POST {{base}}/Communication",
            f"Authorization: Bearer {TOKEN}",
            "Content-Type: application/fhir+json",
            communication(key).strip().replace("\n", " "),
            "HTTP 201",
            "[Captures]",
            'id: header "Location" regex "Communication/([A-Za-z0-9\\\\-\\\\.]{1,64})"',
            "[Asserts]",
            'header "Location" exists',
            f'jsonpath "$.subject.reference" == "Patient/{PATIENT}"',
            "",
            "GET {{base}}/Communication/{{id}}",
            f"Authorization: Bearer {TOKEN}",
            "HTTP 200",
            "[Asserts]",
            f'jsonpath "$.identifier[0].value" == "{key}"',
            "",
        ]
    return "\n".join(out)


def newman():
    body = communication("{{key}}")
    push_tests = [
        "pm.test('status 201', () => pm.response.to.have.status(201));",
        "pm.test('Location', () => pm.response.to.have.header('Location'));",
        f"pm.test('subject kept', () => pm.expect(pm.response.json().subject.reference).to.eql('Patient/{PATIENT}'));",
        "const m = /Communication\\/([A-Za-z0-9\\-\\.]{1,64})/.exec(pm.response.headers.get('Location') || '');",
        "pm.collectionVariables.set('id', m ? m[1] : '');",
    ]
    read_tests = [
        "pm.test('status 200', () => pm.response.to.have.status(200));",
        "pm.test('identifier kept', () => pm.expect(pm.response.json().identifier[0].value).to.eql(pm.collectionVariables.get('key')));",
    ]
    auth = {"key": "Authorization", "value": f"Bearer {TOKEN}"}
    return {
        "info": {
            "name": "cdex push and read",
            "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json",
        },
        "variable": [{"key": "base", "value": "http://127.0.0.1:8090"}, {"key": "key", "value": ""}, {"key": "id", "value": ""}],
        "item": [
            {
                "name": "push",
                "event": [
                    {"listen": "prerequest", "script": {"exec": ["pm.collectionVariables.set('key', 'newman-' + pm.info.iteration);"]}},
                    {"listen": "test", "script": {"exec": push_tests}},
                ],
                "request": {
                    "method": "POST",
                    "url": "{{base}}/Communication",
                    "header": [auth, {"key": "Content-Type", "value": "application/fhir+json"}],
                    "body": {"mode": "raw", "raw": body},
                },
            },
            {
                "name": "read",
                "event": [{"listen": "test", "script": {"exec": read_tests}}],
                "request": {"method": "GET", "url": "{{base}}/Communication/{{id}}", "header": [auth]},
            },
        ],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--scenarios", type=int, default=1)
    ap.add_argument("--pairs", type=int, default=1)
    ap.add_argument("--actor", default="information-server", choices=sorted(REQS))
    ap.add_argument("--hurl")
    ap.add_argument("--newman")
    a = ap.parse_args()
    if os.path.exists(a.dir):
        shutil.rmtree(a.dir)
    os.makedirs(a.dir)
    shutil.copy(os.path.join(PACK, "pack.yaml"), os.path.join(a.dir, "pack.yaml"))
    for n in range(1, a.scenarios + 1):
        sid, text = scenario(n, a.pairs, a.actor)
        with open(os.path.join(a.dir, sid + ".yaml"), "w") as f:
            f.write(text)
    if a.hurl:
        with open(a.hurl, "w") as f:
            f.write(hurl(a.scenarios * a.pairs))
    if a.newman:
        with open(a.newman, "w") as f:
            json.dump(newman(), f, indent=1)


if __name__ == "__main__":
    main()
