#!/usr/bin/env python3
"""An independent CDex client (Information Client, Information Sender, and the Information Sender
grouped with an Information Request Recipient), Python standard library only, as a `--trigger`
adapter: `cdex-harness run --trigger 'python3 tests/peers/client.py [--server URL]'`.

Written from the seeds and docs/actions.md, not from the harness's reference client, and
different from it where the seeds leave room: it reads the CapabilityStatement before anything
else, searches before it reads or updates, retries once on a dropped connection or a 5xx, sends
`application/fhir+json; charset=utf-8`, adds search parameters of its own, builds its own payloads
when none is suggested, and sends a discharge summary as text/plain instead of a PDF.

Actions: push-create, push-update, pull-read, pull-search, send-communication,
send-communication-request, answer-communication-request, process-task,
send-communication-task, send-communication-request-task, subscribe, pull-notified (needs --server: the FHIR base of the peer server that received the
CommunicationRequest). `--fault NAME` plants a fault (see FAULTS).
"""

import argparse
import base64
import copy
import datetime
import json
import os
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from fhirpeer import PROFILES, Http, log  # noqa: E402

FAULTS = {
    "create-by-put": "push-create sends PUT [type]/[id] instead of POST [type]",
    "no-subject": "push-create and push-update send resources without subject/for (the CDex profiles require it)",
    "update-other-id": "push-update puts a body whose id is not the id of the URL",
    "no-based-on": "send-communication and the answer leave basedOn out",
    "answer-everything": "the answer carries every payload held, requested or not",
    "no-endpoint": "the CommunicationRequest's recipient names no Endpoint for the answer",
    "request-without-subject": "the CommunicationRequest has no subject (cdex-communicationrequest requires one)",
}
QUERY_STRING = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-payload-query-string"
NOTE_TYPE = "http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-payload-clinical-note-type"
SUMMARY = (
    "Discharge summary\n"
    "Patient admitted 2016-06-01 for community-acquired pneumonia, treated with antibiotics,\n"
    "discharged 2016-06-05 in good condition. Follow-up with the primary care provider in a week.\n"
)


def env(name, default=None):
    value = os.environ.get("CDEX_" + name)
    return value if value not in (None, "") else default


def payload():
    path = env("PAYLOAD_FILE")
    if not path:
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def stamp():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def own_resource(rtype, patient):
    """A resource of our own making, conforming to the 2019 CDex profile of its type."""
    subject = {"reference": "Patient/" + patient, "display": "peer patient"}
    key = {"system": "urn:uuid:" + str(uuid.uuid4()), "value": uuid.uuid4().hex}
    if rtype == "Communication":
        return {
            "resourceType": "Communication",
            "meta": {"profile": [PROFILES["Communication"]]},
            "identifier": [key],
            "status": "completed",
            "subject": subject,
            "sent": stamp(),
            "recipient": [{"identifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:2.16.840.1.113883.4.6"}}],
            "sender": {"display": "Independent peer clinic"},
            "payload": [{"contentString": "Progress note: patient doing well."}],
        }
    if rtype == "CommunicationRequest":
        return {
            "resourceType": "CommunicationRequest",
            "meta": {"profile": [PROFILES["CommunicationRequest"]]},
            "identifier": [key],
            "status": "active",
            "subject": subject,
            "payload": [{"extension": [{"url": QUERY_STRING, "valueString": "Condition?patient=" + patient}],
                         "contentString": "Conditions, please."}],
            "authoredOn": stamp(),
            "requester": {"display": "Independent peer payer"},
            "recipient": [{"display": "Independent peer clinic"}],
            "sender": {"display": "Independent peer clinic"},
        }
    if rtype == "Task":
        return {
            "resourceType": "Task",
            "meta": {"profile": [PROFILES["Task"]]},
            "identifier": [key],
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": "Communication/" + uuid.uuid4().hex},
            "for": subject,
            "authoredOn": stamp(),
            "requester": {"display": "Independent peer payer"},
            "owner": {"display": "Independent peer clinic"},
        }
    return {"resourceType": rtype, "subject": subject, "identifier": [key]}


def as_plain_text(resource):
    """Our discharge summaries are text/plain, not PDF: swap every PDF attachment for text."""
    for item in resource.get("payload", []) or []:
        att = item.get("contentAttachment")
        if isinstance(att, dict) and att.get("contentType") == "application/pdf":
            item["contentAttachment"] = {
                "contentType": "text/plain; charset=utf-8",
                "language": "en-US",
                "data": base64.b64encode(SUMMARY.encode("utf-8")).decode("ascii"),
                "title": "discharge-summary.txt",
                "creation": stamp(),
            }
    return resource


class Client:
    def __init__(self, args):
        self.args = args
        self.faults = set(args.fault)
        timeout = max(1.0, int(env("TIMEOUT_MS", "10000")) / 1000.0)
        self.http = Http(env("HARNESS_URL"), env("VAR_TOKEN"), timeout, args.repeat)
        self.http.xml = args.xml
        self.http.format_param = args.format_param
        self.http.chunked = args.chunked

    def look_up_patient(self):
        """Like many clients, make sure of the patient first (whatever the answer, go on)."""
        patient = env("PATIENT_ID")
        if patient:
            status, _, _ = self.http.request("GET", "Patient?_id=" + urllib.parse.quote(patient), retries=0)
            log("patient look-up ->", status)

    def metadata(self):
        status, _, body = self.http.request("GET", "metadata", retries=0)
        kind = (body or {}).get("resourceType")
        log("GET metadata ->", status, kind)

    def check(self, what, status, body):
        if status >= 400:
            issue = json.dumps(body)[:300] if body else ""
            raise SystemExit("%s answered %d %s" % (what, status, issue))
        log(what, "->", status)

    def resource_for(self, rtype):
        resource = None if self.args.own_payloads else payload()
        resource = resource or own_resource(rtype, env("PATIENT_ID", "example"))
        if resource.get("resourceType") != rtype:
            resource = own_resource(rtype, env("PATIENT_ID", "example"))
        resource.setdefault("meta", {})
        resource["meta"].setdefault("tag", []).append({"system": "urn:cdex-peer", "code": "independent"})
        if "no-subject" in self.faults:
            resource.pop("subject", None)
            resource.pop("for", None)
        if env("PROFILE"):
            profiles = resource["meta"].setdefault("profile", [])
            if env("PROFILE") not in profiles:
                profiles.append(env("PROFILE"))
        return as_plain_text(resource)

    # -- Information Client ----------------------------------------------------------------

    def push_create(self):
        rtype = env("RESOURCE_TYPE", "Communication")
        self.look_up_patient()
        resource = self.resource_for(rtype)
        resource.pop("id", None)
        if rtype == "Task" and self.args.own_payloads:
            # Our own Task is about a Communication of ours: create that first, then point at it.
            status, headers, body = self.http.request("POST", "Communication", own_resource("Communication", env("PATIENT_ID", "example")))
            self.check("create the Task's focus", status, body)
            where = headers.get("location") or ""
            if "/Communication/" in where:
                focus_id = where.split("/Communication/")[1].split("/")[0]
                resource["focus"] = {"reference": "Communication/" + focus_id}
        if "create-by-put" in self.faults:
            resource["id"] = str(uuid.uuid4())
            status, _, body = self.http.request("PUT", "%s/%s" % (rtype, resource["id"]), resource)
        else:
            status, headers, body = self.http.request("POST", rtype, resource)
            log("Location:", headers.get("location"))
        self.check("create " + rtype, status, body)

    def push_update(self):
        rtype, rid = env("RESOURCE_TYPE", "Communication"), env("RESOURCE_ID")
        # Look the resource up first (a search, as this client always does), then update it.
        status, _, found = self.http.request("GET", "%s?_id=%s" % (rtype, urllib.parse.quote(rid)))
        log("search before update ->", status, (found or {}).get("total"))
        resource = self.resource_for(rtype)
        resource["id"] = "other-" + rid if "update-other-id" in self.faults else rid
        status, _, body = self.http.request("PUT", "%s/%s" % (rtype, urllib.parse.quote(rid)), resource)
        self.check("update %s/%s" % (rtype, rid), status, body)

    def pull_read(self):
        rtype, rid = env("RESOURCE_TYPE", "Communication"), env("RESOURCE_ID")
        status, _, found = self.http.request("GET", "%s?_id=%s&_summary=count" % (rtype, urllib.parse.quote(rid)))
        log("search before read ->", status, (found or {}).get("total"))
        status, _, body = self.http.request("GET", "%s/%s" % (rtype, urllib.parse.quote(rid)))
        self.check("read %s/%s" % (rtype, rid), status, body)

    def pull_search(self):
        rtype = env("RESOURCE_TYPE", "Communication")
        query = env("SEARCH", "")
        extra = "_count=50&_sort=-_lastUpdated"
        status, _, body = self.http.request("GET", "%s?%s" % (rtype, "&".join(p for p in (query, extra) if p)))
        self.check("search " + rtype, status, body)
        log("matches:", len((body or {}).get("entry", [])))

    def push(self, http, resource):
        """POST [type], or with --push-by-put PUT [type]/[an id of ours] (the seeds say POST/PUT)."""
        rtype = resource["resourceType"]
        if self.args.push_by_put:
            resource["id"] = str(uuid.uuid4())
            return http.request("PUT", "%s/%s" % (rtype, resource["id"]), resource)
        return http.request("POST", rtype, resource)

    # -- Information Request Sender ------------------------------------------------------------

    def send_communication_request(self):
        """Ask for the patient's Conditions, naming our Information Recipient's base as the answer's
        Endpoint. Our own request, not the suggested one: the due date is in a note (no occurrence)."""
        patient = env("PATIENT_ID", "example")
        request = own_resource("CommunicationRequest", patient)
        request["category"] = [{"text": "Request for clinical data"}]
        request["note"] = [{"text": "Please answer within 14 days."}]
        org = {
            "resourceType": "Organization",
            "id": "us",
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + str(uuid.uuid4())}],
            "name": "Independent peer payer",
        }
        request["contained"] = [org]
        if "no-endpoint" not in self.faults:
            org["endpoint"] = [{"reference": "#answers"}]
            request["contained"].append({
                "resourceType": "Endpoint",
                "id": "answers",
                "status": "active",
                "connectionType": {"system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type", "code": "hl7-fhir-rest"},
                "payloadType": [{"text": "FHIR resources"}],
                "address": env("RECIPIENT_ADDRESS"),
            })
        request["recipient"] = [{"reference": "#us"}]
        if "request-without-subject" in self.faults:
            del request["subject"]
        status, headers, body = self.push(self.http, request)
        self.check("send CommunicationRequest", status, body)

    # -- Task-based option: the owner (Information Recipient or Request Recipient) -----------

    def process_task(self):
        """Work on the Task the harness pushed to our server: accept it, start it, pull its focus,
        then complete it with an output (or fail it, saying why, when the focus cannot be had)."""
        if not self.args.server:
            raise SystemExit("process-task needs --server (the peer server that owns the Task)")
        server = Http(self.args.server, self.args.server_token)
        tid = env("TASK_ID")
        status, _, task = server.request("GET", "Task/" + tid)
        self.check("read our Task/" + tid, status, task)

        def move(new_status, **fields):
            changed = dict(task)
            changed["status"] = new_status
            changed.update(fields)
            status, _, body = server.request("PUT", "Task/" + tid, changed)
            self.check("Task %s -> %s" % (tid, new_status), status, body)
            return body or changed

        task = move("accepted")
        task = move("in-progress", businessStatus={"text": "pulling the focus"})
        focus = env("FOCUS") or (task.get("focus") or {}).get("reference", "")
        status, _, focused = self.http.request("GET", focus, retries=0)
        if status >= 400 or not isinstance(focused, dict):
            move("failed", statusReason={"text": "the focus %s could not be read (HTTP %d)" % (focus, status)})
            return
        if focused.get("resourceType") == "CommunicationRequest":
            kept = self.answer_from_task(server, focus, focused)
        else:
            status, headers, body = server.request("POST", focused.get("resourceType", "Communication"), strip(focused))
            self.check("keep our copy of the focus", status, body)
            kept = "%s/%s" % (focused.get("resourceType", "Communication"), (body or {}).get("id") or location_id(headers))
        move("completed", businessStatus={"text": "done"}, output=[{
            "type": {"coding": [{"system": "http://hl7.org/fhir/us/davinci-hrex/CodeSystem/hrex-temp", "code": "data-value"}], "text": "what was received"},
            "valueReference": {"reference": kept},
        }])

    def answer_from_task(self, server, focus, request):
        """Grouped with an Information Sender: the answer stays on our server, based on the request."""
        asked = [e.get("valueString") for p in request.get("payload", []) for e in p.get("extension", []) if e.get("url") == QUERY_STRING]
        answer = {
            "resourceType": "Communication",
            "meta": {"profile": [PROFILES["Communication"]]},
            "status": "completed",
            "basedOn": [{"reference": focus, "identifier": (request.get("identifier") or [None])[0]}],
            "subject": request.get("subject"),
            "sent": stamp(),
            "recipient": [request.get("requester") or {"display": "the requester"}],
            "sender": (request.get("recipient") or [{"display": "Independent peer clinic"}])[0],
            "payload": [{"extension": [{"url": QUERY_STRING, "valueString": q}], "contentString": "No result for %s." % q} for q in asked]
            or [{"contentString": "Nothing of what was asked for is held."}],
        }
        answer["basedOn"] = [{k: v for k, v in ref.items() if v is not None} for ref in answer["basedOn"]]
        status, headers, body = server.request("POST", "Communication", answer)
        self.check("keep the answer", status, body)
        return "Communication/%s" % ((body or {}).get("id") or location_id(headers))

    # -- Task-based option: the requester (Information Sender or Request Sender) ---------------

    def send_task_about(self, rtype):
        """Keep the focus on our own server, then push a CDex Task about it to the owner."""
        if not self.args.server:
            raise SystemExit("%s needs --server (the peer server that keeps the focus)" % env("ACTION"))
        server = Http(self.args.server, self.args.server_token)
        focus = self.resource_for(rtype)
        focus.pop("id", None)
        status, headers, body = server.request("POST", rtype, focus)
        self.check("keep our %s" % rtype, status, body)
        focus_url = "%s/%s/%s" % (self.args.server.rstrip("/"), rtype, (body or {}).get("id") or location_id(headers))
        task = {
            "resourceType": "Task",
            "meta": {"profile": [PROFILES["Task"]]},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + str(uuid.uuid4())}],
            "status": "requested",
            "intent": "order",
            "code": {"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]},
            "focus": {"reference": focus_url},
            "for": {"reference": "Patient/" + env("PATIENT_ID", "example")},
            "authoredOn": stamp(),
            "requester": {"display": "Independent peer"},
            "owner": {"reference": env("OWNER", "Organization/unknown")},
        }
        if rtype != "Communication" and not self.args.declare_request_task_profile:
            # The 2019 draft's only Task profile, cdex-task, limits focus to a Communication: a
            # Communication Request Task cannot conform to it, so it does not claim it.
            del task["meta"]
        status, _, body = self.push(self.http, task)
        self.check("push the Task", status, body)

    def send_communication_task(self):
        self.send_task_about("Communication")

    def send_communication_request_task(self):
        self.send_task_about("CommunicationRequest")

    # -- Notified-pull option: the subscriber (Information Client) ----------------------------

    def subscribe(self):
        """Subscribe to the topic; our server (--server) keeps what is notified to us."""
        if not self.args.server:
            raise SystemExit("subscribe needs --server (whose notification endpoint we name)")
        backport = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
        subscription = {
            "resourceType": "Subscription",
            "meta": {"profile": [backport + "backport-subscription"]},
            "status": "requested",
            "reason": "Independent peer: new Tasks for us",
            "end": (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).isoformat(timespec="seconds"),
            "criteria": env("TOPIC"),
            "_criteria": {"extension": [{"url": backport + "backport-filter-criteria", "valueString": env("FILTER")}]},
            "channel": {
                "type": "rest-hook",
                "endpoint": self.args.server.rstrip("/") + "/notification-endpoint",
                "payload": "application/fhir+json",
                "_payload": {"extension": [{"url": backport + "backport-payload-content", "valueCode": "id-only"}]},
                "header": ["X-Peer-Subscription: independent"],
            },
        }
        status, _, body = self.push(self.http, subscription)
        self.check("subscribe", status, body)

    def pull_notified(self):
        """Pull what our endpoint was notified of (not CDEX_FOCUS: what the notification says)."""
        server = Http(self.args.server, self.args.server_token)
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=5)
        while True:
            status, _, bundle = server.request("GET", "notification-endpoint", retries=0)
            if status == 200 or datetime.datetime.now() > deadline:
                break
            time.sleep(0.2)
        self.check("our last notification", status, bundle)
        focus = None
        for param in bundle["entry"][0]["resource"].get("parameter", []):
            if param.get("name") == "notification-event":
                for part in param.get("part", []):
                    if part.get("name") == "focus":
                        focus = part["valueReference"]["reference"]
        status, _, body = self.http.request("GET", focus or env("FOCUS"))
        self.check("pull " + str(focus), status, body)

    # -- Information Sender ------------------------------------------------------------------

    def send_communication(self):
        self.look_up_patient()
        comm = self.resource_for("Communication")
        comm.pop("id", None)
        if env("PATIENT_ID"):
            comm["subject"] = {"reference": "Patient/" + env("PATIENT_ID")}
        based_on = env("BASED_ON")
        if based_on and "no-based-on" not in self.faults:
            ref = {"reference": based_on, "type": "CommunicationRequest"}
            if env("BASED_ON_IDENTIFIER"):
                system, _, value = env("BASED_ON_IDENTIFIER").partition("|")
                ref["identifier"] = {"system": system, "value": value}
                if self.args.based_on_identifier_only:
                    del ref["reference"]
            comm["basedOn"] = [ref]
        status, _, body = self.push(self.http, comm)
        self.check("send Communication", status, body)

    def answer_communication_request(self):
        """Grouped with an Information Request Recipient: answer the request our server received."""
        if not self.args.server:
            raise SystemExit("answer-communication-request needs --server (the peer server's FHIR base)")
        server = Http(self.args.server, self.args.server_token)
        rid = env("COMMUNICATION_REQUEST_ID")
        status, _, request = server.request("GET", "CommunicationRequest/" + rid)
        self.check("read our CommunicationRequest/" + rid, status, request)
        address = endpoint_address(request) or env("RECIPIENT_ADDRESS")
        if not address:
            raise SystemExit("the request names no Endpoint and no CDEX_RECIPIENT_ADDRESS was given")
        held = payload() or {"payload": []}
        asked = {ext.get("valueString") for item in request.get("payload", []) for ext in item.get("extension", []) if ext.get("url") == QUERY_STRING}
        items = [copy.deepcopy(p) for p in held.get("payload", [])]
        if "answer-everything" not in self.faults:
            items = [p for p in items if any(e.get("url") == QUERY_STRING and e.get("valueString") in asked for e in p.get("extension", []))]
        answer = {
            "resourceType": "Communication",
            "meta": {"profile": [PROFILES["Communication"]]},
            "identifier": [{"system": "urn:ietf:rfc:3986", "value": "urn:uuid:" + str(uuid.uuid4())}],
            "status": "completed",
            "subject": request.get("subject"),
            "sent": stamp(),
            "sender": request.get("sender") or {"display": "Independent peer clinic"},
            "payload": items or [{"contentString": "Nothing of what was asked for is held."}],
        }
        recipients, contained = [], []
        for rec in request.get("recipient", []):
            target = contained_resource(request, rec.get("reference"))
            if target is not None:
                org = {k: v for k, v in target.items() if k != "endpoint"}
                contained.append(org)
                recipients.append({"reference": "#" + org["id"], "identifier": (org.get("identifier") or [None])[0]})
            else:
                recipients.append(rec)
        answer["recipient"] = [{k: v for k, v in r.items() if v is not None} for r in recipients]
        if contained:
            answer["contained"] = contained
        if "no-based-on" not in self.faults:
            ref = {"reference": "%s/CommunicationRequest/%s" % (self.args.server.rstrip("/"), rid)}
            if request.get("identifier"):
                ref["identifier"] = request["identifier"][0]
                if self.args.based_on_identifier_only:
                    ref = {"type": "CommunicationRequest", "identifier": request["identifier"][0]}
            answer["basedOn"] = [ref]
        out = Http(address, env("VAR_TOKEN"))
        status, _, body = self.push(out, answer)
        self.check("answer to " + address, status, body)


def strip(resource):
    copy = {k: v for k, v in resource.items() if k not in ("id", "meta")}
    return copy


def contained_resource(resource, reference):
    if not isinstance(reference, str) or not reference.startswith("#"):
        return None
    for item in resource.get("contained", []):
        if item.get("id") == reference[1:]:
            return item
    return None


def location_id(headers):
    where = (headers.get("location") or "").split("/_history/")[0]
    return where.rstrip("/").split("/")[-1]


def endpoint_address(request):
    """The address of the Endpoint that the request's recipient (a contained Organization) names."""
    for rec in request.get("recipient", []):
        org = contained_resource(request, rec.get("reference"))
        for ep_ref in (org or {}).get("endpoint", []):
            endpoint = contained_resource(request, ep_ref.get("reference"))
            if endpoint and endpoint.get("address"):
                return endpoint["address"]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="FHIR base of the peer server grouped with this client")
    parser.add_argument("--server-token", help="bearer token of that server")
    parser.add_argument("--own-payloads", action="store_true", help="never use the suggested payload: build our own")
    parser.add_argument("--based-on-identifier-only", action="store_true",
                        help="name the CommunicationRequest answered by its identifier only (seed 000: 'including the identifier')")
    parser.add_argument("--declare-request-task-profile", action="store_true",
                        help="a Communication Request Task claims cdex-task in meta.profile too (the draft's only Task profile)")
    parser.add_argument("--push-by-put", action="store_true", help="send Communications and CommunicationRequests with PUT at an id of ours")
    parser.add_argument("--format-param", action="store_true", help="add _format=application/fhir+json to every URL")
    parser.add_argument("--chunked", action="store_true", help="send bodies chunked (no Content-Length)")
    parser.add_argument("--xml", action="store_true", help="send FHIR XML bodies instead of JSON")
    parser.add_argument("--repeat", action="store_true", help="send every request twice (a client retrying after a lost answer)")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS))
    args = parser.parse_args()
    client = Client(args)
    action = env("ACTION", "")
    handler = getattr(client, action.replace("-", "_"), None)
    if not action or handler is None:
        raise SystemExit("action '%s' is not supported by this peer" % action)
    log("action", action, "for", env("SCENARIO"), "/", env("STEP"))
    client.metadata()
    handler()


if __name__ == "__main__":
    main()
