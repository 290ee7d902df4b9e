"""Shared bits of the independent CDex peers: FHIR JSON over HTTP with the standard library only.

Written from the seeds (/work/shared/seeds/), the 2019 CDex draft and FHIR R4's RESTful API, never
from the harness's own actors, so that the harness is tried on an implementation it did not write.
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CDEX = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/"
PROFILES = {
    "Communication": CDEX + "cdex-communication",
    "CommunicationRequest": CDEX + "cdex-communicationrequest",
    "Task": CDEX + "cdex-task",
}
# What this peer sends: FHIR JSON with an explicit charset (the harness must not mind it).
FHIR_JSON = "application/fhir+json; charset=utf-8"


def log(*parts):
    print("[peer]", *parts, file=sys.stderr, flush=True)


def operation_outcome(code, text, severity="error"):
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}],
    }


class Http:
    """A tiny FHIR HTTP client: bearer token, FHIR JSON, one retry on a dropped connection or 5xx."""

    def __init__(self, base, token=None, timeout=10.0, repeat=False):
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout
        # Send every request twice, as a client that lost the first answer and retried would.
        self.repeat = repeat
        # Send bodies as FHIR XML (R4 and the 2019 client CapabilityStatement list both formats).
        self.xml = False
        # Add _format=application/fhir+json to every URL (R4 lets any interaction carry it).
        self.format_param = False
        # Send bodies with Transfer-Encoding: chunked instead of a Content-Length.
        self.chunked = False

    def url(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base + "/" + path.lstrip("/")

    def request(self, method, path, body=None, headers=None, retries=1):
        if self.repeat:
            self.once(method, path, body, headers, retries)
        return self.once(method, path, body, headers, retries)

    def once(self, method, path, body=None, headers=None, retries=1):
        data = None
        all_headers = {"Accept": "application/fhir+json, application/json;q=0.9"}
        if self.token:
            all_headers["Authorization"] = "Bearer " + self.token
        if body is not None and self.xml:
            data = to_xml(body).encode("utf-8")
            all_headers["Content-Type"] = "application/fhir+xml; charset=utf-8"
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            all_headers["Content-Type"] = FHIR_JSON
        all_headers.update(headers or {})
        url = self.url(path)
        if self.format_param:
            url += ("&" if "?" in url else "?") + "_format=" + urllib.parse.quote("application/fhir+json")
        for attempt in range(retries + 1):
            body_data = data
            if data is not None and self.chunked:
                body_data = iter([data[: len(data) // 2], data[len(data) // 2 :]])
                all_headers["Transfer-Encoding"] = "chunked"
            req = urllib.request.Request(url, data=body_data, method=method, headers=all_headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.status, {k.lower(): v for k, v in resp.headers.items()}, _json(resp.read())
            except urllib.error.HTTPError as err:
                status, hdrs, payload = err.code, {k.lower(): v for k, v in err.headers.items()}, _json(err.read())
                if status < 500 or attempt == retries:
                    return status, hdrs, payload
                log(method, url, "answered", status, "- retrying")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
                if attempt == retries:
                    raise
                log(method, url, "failed:", err, "- retrying")
            time.sleep(0.2)
        raise AssertionError("unreachable")


def to_xml(resource):
    """FHIR JSON to FHIR XML (R4 rules: primitives in value attributes, url and id of elements
    as attributes, contained resources wrapped in their type, the narrative as XHTML)."""
    from xml.sax.saxutils import quoteattr

    def element(name, value):
        if isinstance(value, list):
            return "".join(element(name, item) for item in value)
        if isinstance(value, dict):
            if "resourceType" in value:  # a contained or nested resource
                return "<%s>%s</%s>" % (name, body(value), name)
            attrs = "".join(" %s=%s" % (a, quoteattr(str(value[a]))) for a in ("id", "url") if a in value and name != "div")
            inner = "".join(element(k, v) for k, v in value.items() if k not in ("id", "url") and not k.startswith("_"))
            return "<%s%s>%s</%s>" % (name, attrs, inner, name)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if name == "div":
            return value
        return "<%s value=%s/>" % (name, quoteattr(str(value)))

    def body(res):
        inner = "".join(element(k, v) for k, v in res.items() if k != "resourceType" and not k.startswith("_"))
        return '<%s xmlns="http://hl7.org/fhir">%s</%s>' % (res["resourceType"], inner, res["resourceType"])

    return body(resource)


def _json(raw):
    if not raw:
        return None
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
