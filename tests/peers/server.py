#!/usr/bin/env python3
"""An independent CDex FHIR server (Information Server, Information Recipient, Information Request
Recipient), Python standard library only.

Written from the seeds and FHIR R4's RESTful API, not from the harness's reference actors, and
different from them where the seeds leave room: it serves under a path (`/fhir` by default), gives
UUIDs and 64-character ids, opaque version ids, answers `application/fhir+json; charset=utf-8`,
keeps Communications that do not conform to cdex-communication (no SHALL says refuse), refuses the
types it does not take with 404, a restricted patient's data with 422 after deleting what it stored.

    python3 tests/peers/server.py --port 0 [--accept cdex|any|Type,Type] [--token T]
        [--restricted-patient ID]... [--base-path /fhir] [--notified-pull [--no-handshake]]
        [--fault NAME]...

The first line on stdout is the port it listens on (127.0.0.1 only).
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from fhirpeer import FHIR_JSON, PROFILES, log, operation_outcome  # noqa: E402

FAULTS = {
    "no-location": "a create answers 201 without a Location header",
    "no-history": "a create's Location has no /_history/[vid]",
    "ignore-token": "pushes are accepted without valid credentials",
    "keep-restricted": "data about a restricted patient is kept",
    "drop-payload": "a Communication's payload is not kept",
    "collection-notification": "notifications are Bundles of type collection, not history",
}

# Every R4 (4.0.1) resource type, for `--accept any`.
R4_TYPES = """Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse
AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement CarePlan
CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse ClinicalImpression CodeSystem
Communication CommunicationRequest CompartmentDefinition Composition ConceptMap Condition Consent
Contract Coverage CoverageEligibilityRequest CoverageEligibilityResponse DetectedIssue Device
DeviceDefinition DeviceMetric DeviceRequest DeviceUseStatement DiagnosticReport DocumentManifest
DocumentReference EffectEvidenceSynthesis Encounter Endpoint EnrollmentRequest EnrollmentResponse
EpisodeOfCare EventDefinition Evidence EvidenceVariable ExampleScenario ExplanationOfBenefit
FamilyMemberHistory Flag Goal GraphDefinition Group GuidanceResponse HealthcareService ImagingStudy
Immunization ImmunizationEvaluation ImmunizationRecommendation ImplementationGuide InsurancePlan
Invoice Library Linkage List Location Measure MeasureReport Media Medication MedicationAdministration
MedicationDispense MedicationKnowledge MedicationRequest MedicationStatement MedicinalProduct
MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
MessageDefinition MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
ObservationDefinition OperationDefinition OperationOutcome Organization OrganizationAffiliation
Parameters Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner
PractitionerRole Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson RequestGroup
ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition
StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer
SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification
SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet
VerificationResult VisionPrescription""".split()

# Search parameters (R4 names and paths) this server understands, per type: (kind, element paths).
COMMON = {"_id": ("id", ["id"]), "identifier": ("token", ["identifier"])}
SEARCH = {
    "Communication": {
        "subject": ("reference", ["subject"]),
        "patient": ("patient", ["subject"]),
        "based-on": ("reference", ["basedOn"]),
        "part-of": ("reference", ["partOf"]),
        "encounter": ("reference", ["encounter"]),
        "recipient": ("reference", ["recipient"]),
        "sender": ("reference", ["sender"]),
        "status": ("code", ["status"]),
        "category": ("token", ["category"]),
        "medium": ("token", ["medium"]),
    },
    "CommunicationRequest": {
        "subject": ("reference", ["subject"]),
        "patient": ("patient", ["subject"]),
        "requester": ("reference", ["requester"]),
        "recipient": ("reference", ["recipient"]),
        "sender": ("reference", ["sender"]),
        "based-on": ("reference", ["basedOn"]),
        "encounter": ("reference", ["encounter"]),
        "status": ("code", ["status"]),
        "priority": ("code", ["priority"]),
        "category": ("token", ["category"]),
        "group-identifier": ("token", ["groupIdentifier"]),
    },
    "Task": {
        "subject": ("reference", ["for"]),
        "patient": ("patient", ["for"]),
        "owner": ("reference", ["owner"]),
        "requester": ("reference", ["requester"]),
        "focus": ("reference", ["focus"]),
        "based-on": ("reference", ["basedOn"]),
        "part-of": ("reference", ["partOf"]),
        "encounter": ("reference", ["encounter"]),
        "status": ("code", ["status"]),
        "intent": ("code", ["intent"]),
        "priority": ("code", ["priority"]),
        "code": ("token", ["code"]),
        "business-status": ("token", ["businessStatus"]),
        "group-identifier": ("token", ["groupIdentifier"]),
    },
    "Condition": {
        "subject": ("reference", ["subject"]),
        "patient": ("patient", ["subject"]),
        "encounter": ("reference", ["encounter"]),
        "code": ("token", ["code"]),
        "category": ("token", ["category"]),
        "clinical-status": ("token", ["clinicalStatus"]),
    },
}
FALLBACK = {
    "subject": ("reference", ["subject", "for"]),
    "patient": ("patient", ["subject", "patient", "for"]),
}
# Where a resource names its patient (for the restricted-patient rule).
PATIENT_PATHS = ["subject", "patient", "for", "beneficiary"]


TASK_TOPIC = "http://hl7.org/fhir/us/davinci-hrex/SubscriptionTopic/Task"
# Where the server keeps the notifications sent to its grouped subscriber: [base]/NOTIFICATIONS.
NOTIFICATIONS = "notification-endpoint"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
FILTER_CRITERIA = BACKPORT + "backport-filter-criteria"
PAYLOAD_CONTENT = BACKPORT + "backport-payload-content"


def extension_value(element, url, key):
    for ext in (element or {}).get("extension", []):
        if ext.get("url") == url:
            return ext.get(key)
    return None


def task_matches(task, criteria):
    """Does a Task match a filter such as `Task?owner=Organization/x` (the search parameters)?"""
    rtype, _, query = criteria.partition("?")
    if rtype and rtype != "Task":
        return False
    params = dict(COMMON)
    params.update(SEARCH["Task"])
    for name, value in urllib.parse.parse_qsl(query):
        if name not in params:
            return False  # a filter this server does not understand matches nothing
        kind, paths = params[name]
        if not Handler.test(task, kind, paths, value.split(",")):
            return False
    return True


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def new_id(rtype):
    """UUIDs for most resources; 64-character ids (FHIR's longest) for CommunicationRequests."""
    if rtype == "CommunicationRequest":
        return hashlib.sha256(uuid.uuid4().bytes).hexdigest()[:64]
    return str(uuid.uuid4())


def values(resource, path):
    node = resource.get(path)
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def ref_key(ref):
    """'Type/id' (or just 'id') of a reference string: relative, absolute, or with _history."""
    ref = ref.split("/_history/")[0].rstrip("/")
    parts = ref.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def matches_reference(node, wanted, patient_only=False):
    if not isinstance(node, dict) or not isinstance(node.get("reference"), str):
        return False
    have = ref_key(node["reference"])
    if patient_only and not have.startswith("Patient/"):
        return False
    want = ref_key(wanted)
    if "/" not in want:
        return have.split("/")[-1] == want
    return have == want


def matches_token(node, wanted):
    system, _, code = wanted.rpartition("|") if "|" in wanted else (None, "", wanted)
    candidates = []
    if isinstance(node, str):
        candidates.append((None, node))
    elif isinstance(node, dict):
        if "value" in node:  # Identifier
            candidates.append((node.get("system"), node.get("value")))
        for coding in node.get("coding", []) or []:  # CodeableConcept
            candidates.append((coding.get("system"), coding.get("code")))
        if "code" in node:  # Coding
            candidates.append((node.get("system"), node.get("code")))
    for have_system, have_code in candidates:
        if code and have_code != code:
            continue
        if system is None:
            return True
        if system == "" and have_system is None:
            return True
        if system and have_system == system:
            return True
    return False


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.history = {}  # (type, id) -> [version, ...]; a version is a resource or a deletion

    def current(self, rtype, rid):
        versions = self.history.get((rtype, rid))
        return versions[-1] if versions else None

    def put(self, rtype, rid, resource):
        versions = self.history.setdefault((rtype, rid), [])
        vid = uuid.uuid4().hex[:12]
        resource["id"] = rid
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = vid
        meta["lastUpdated"] = now().isoformat(timespec="milliseconds")
        resource["meta"] = meta
        versions.append(resource)
        return resource

    def delete(self, rtype, rid):
        self.history.setdefault((rtype, rid), []).append({"deleted": True, "id": rid})

    def all_of(self, rtype):
        for (t, _), versions in self.history.items():
            if t == rtype and not versions[-1].get("deleted"):
                yield versions[-1]


class Peer:
    def __init__(self, args):
        self.args = args
        self.store = Store()
        self.faults = set(args.fault)
        if args.accept == "cdex":
            self.types = sorted(PROFILES)
        elif args.accept == "any":
            self.types = list(R4_TYPES)
        else:
            self.types = [t.strip() for t in args.accept.split(",") if t.strip()]
        if args.notified_pull and "Subscription" not in self.types:
            self.types.append("Subscription")
        self.base_path = "/" + args.base_path.strip("/") if args.base_path.strip("/") else ""
        self.events = {}  # Subscription id -> events since it started
        self.notifications = []  # what the notification endpoint received

    # -- notified pull (seed 004; R4 topic-based Subscriptions of the Subscriptions Backport IG) --

    @staticmethod
    def subscription_problem(sub):
        """Why this server cannot serve a Subscription, or None."""
        if sub.get("criteria") != TASK_TOPIC:
            return "this server has one topic, %s; not %s" % (TASK_TOPIC, sub.get("criteria"))
        channel = sub.get("channel") or {}
        if channel.get("type") != "rest-hook":
            return "this server notifies on rest-hook channels only, not %s" % channel.get("type")
        endpoint = channel.get("endpoint") or ""
        if not endpoint.startswith(("http://", "https://")):
            return "a rest-hook channel needs an http(s) endpoint"
        content = extension_value(channel.get("_payload"), PAYLOAD_CONTENT, "valueCode") or "id-only"
        if content not in ("id-only", "full-resource", "empty"):
            return "unknown payload content %s" % content
        return None

    def post_bundle(self, sub, bundle):
        channel = sub.get("channel") or {}
        headers = {"Content-Type": (channel.get("payload") or "application/fhir+json") + "; charset=utf-8"}
        for line in channel.get("header") or []:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        req = urllib.request.Request(channel["endpoint"], data=json.dumps(bundle).encode("utf-8"), method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return 200 <= resp.status < 300
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            log("notification to", channel["endpoint"], "failed:", err)
            return False

    def status_parameters(self, sub, base, kind, status, focus=None):
        params = [
            {"name": "subscription", "valueReference": {"reference": "%s/Subscription/%s" % (base, sub["id"])}},
            {"name": "topic", "valueCanonical": TASK_TOPIC},
            {"name": "status", "valueCode": status},
            {"name": "type", "valueCode": kind},
            {"name": "events-since-subscription-start", "valueString": str(self.events.get(sub["id"], 0))},
        ]
        if focus:
            params.append({"name": "notification-event", "part": [
                {"name": "event-number", "valueString": str(self.events[sub["id"]])},
                {"name": "timestamp", "valueInstant": now().isoformat(timespec="milliseconds")},
                {"name": "focus", "valueReference": {"reference": focus}},
            ]})
        return {"resourceType": "Parameters", "id": str(uuid.uuid4()), "parameter": params}

    def bundle(self, sub, base, parameters, entries=()):
        first = {
            "fullUrl": "urn:uuid:" + parameters["id"],
            "resource": parameters,
            "request": {"method": "GET", "url": "%s/Subscription/%s/$status" % (base, sub["id"])},
            "response": {"status": "200"},
        }
        kind = "collection" if "collection-notification" in self.faults else "history"
        return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": kind,
                "timestamp": now().isoformat(timespec="milliseconds"), "entry": [first, *entries]}

    def handshake(self, sub, base):
        """A handshake first (the Backport IG lets a server send one); active once it is taken."""
        if self.args.no_handshake:
            sub["status"] = "active"
            return

        def run():
            ok = self.post_bundle(sub, self.bundle(sub, base, self.status_parameters(sub, base, "handshake", "requested")))
            with self.store.lock:
                current = self.store.current("Subscription", sub["id"])
                if current and not current.get("deleted"):
                    changed = json.loads(json.dumps(current))
                    changed["status"] = "active" if ok else "error"
                    self.store.put("Subscription", sub["id"], changed)
        threading.Thread(target=run, daemon=True).start()

    def notify(self, task, base, created):
        """Notify every active Subscription whose filter the Task matches (id-only or more)."""
        for sub in list(self.store.all_of("Subscription")):
            if sub.get("status") != "active" or self.subscription_problem(sub):
                continue
            filters = [e.get("valueString", "") for e in (sub.get("_criteria") or {}).get("extension", []) if e.get("url") == FILTER_CRITERIA]
            if not all(task_matches(task, f) for f in filters):
                continue
            self.events[sub["id"]] = self.events.get(sub["id"], 0) + 1
            focus = "%s/Task/%s" % (base, task["id"])
            content = extension_value(sub["channel"].get("_payload"), PAYLOAD_CONTENT, "valueCode") or "id-only"
            entries = []
            if content != "empty":
                entry = {"fullUrl": focus, "request": {"method": "POST" if created else "PUT", "url": "Task" if created else "Task/" + task["id"]},
                         "response": {"status": "201" if created else "200"}}
                if content == "full-resource":
                    entry["resource"] = task
                entries.append(entry)
            bundle = self.bundle(sub, base, self.status_parameters(sub, base, "event-notification", "active", focus), entries)
            threading.Thread(target=self.post_bundle, args=(sub, bundle), daemon=True).start()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cdex-peer/0.1"
    peer = None  # set by main()

    # -- plumbing ------------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        log(self.address_string(), fmt % args)

    def base_url(self):
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
        return "http://" + host + self.peer.base_path

    def reply(self, status, body=None, headers=None):
        raw = b"" if body is None else json.dumps(body, indent=1).encode("utf-8")
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", FHIR_JSON)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(raw)

    def fail(self, status, code, text):
        extra = {"WWW-Authenticate": 'Bearer realm="cdex-peer"'} if status == 401 else None
        self.reply(status, operation_outcome(code, text), extra)

    def version_headers(self, resource):
        meta = resource.get("meta", {})
        stamp = datetime.datetime.fromisoformat(meta["lastUpdated"])
        return {
            "ETag": 'W/"%s"' % meta["versionId"],
            "Last-Modified": stamp.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }

    def route(self):
        """(path segments under the base, query pairs), or None when outside the base path."""
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        if self.peer.base_path:
            if path != self.peer.base_path and not path.startswith(self.peer.base_path + "/"):
                return None
            path = path[len(self.peer.base_path) :]
        segments = [urllib.parse.unquote(s) for s in path.split("/") if s]
        return segments, urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def authorized(self):
        token = self.peer.args.token
        if not token or "ignore-token" in self.peer.faults:
            return True
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and value.strip() == token

    def parse_resource(self, rtype):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in ("application/fhir+json", "application/json", "application/json+fhir"):
            self.fail(415, "not-supported", "send FHIR JSON (application/fhir+json), not '%s'" % ctype)
            return None
        try:
            resource = json.loads(self.read_body().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            self.fail(400, "structure", "the body is not JSON: %s" % err)
            return None
        if not isinstance(resource, dict) or resource.get("resourceType") != rtype:
            self.fail(400, "invalid", "the body must be a %s resource" % rtype)
            return None
        return resource

    def restricted_patient(self, resource):
        if "keep-restricted" in self.peer.faults:
            return None
        for path in PATIENT_PATHS:
            for node in values(resource, path):
                for patient in self.peer.args.restricted_patient:
                    if matches_reference(node, "Patient/" + patient, patient_only=True):
                        return patient
        return None

    # -- verbs ---------------------------------------------------------------------------------

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        routed = self.route()
        if routed is None:
            self.fail(404, "not-found", "this server's FHIR base is %s" % self.base_url())
            return
        segments, query = routed
        if method == "GET" and segments == ["metadata"]:
            self.reply(200, self.capability_statement())
            return
        if segments == [NOTIFICATIONS]:
            self.notification_endpoint(method)
            return
        if not self.authorized():
            self.read_body()
            self.fail(401, "login", "a valid bearer token is needed")
            return
        if not segments:
            self.fail(400, "not-supported", "batch and transaction are not supported")
            return
        rtype = segments[0]
        if rtype not in self.peer.types:
            self.read_body()
            self.fail(404, "not-supported", "this server does not take %s resources" % rtype)
            return
        with self.peer.store.lock:
            if method == "GET" and len(segments) == 1:
                self.search(rtype, query)
            elif method == "POST" and segments[1:] == ["_search"]:
                form = urllib.parse.parse_qsl(self.read_body().decode("utf-8"), keep_blank_values=True)
                self.search(rtype, query + form)
            elif method == "GET" and len(segments) == 2:
                self.read(rtype, segments[1])
            elif method == "GET" and len(segments) == 3 and segments[2] == "_history":
                self.history(rtype, segments[1])
            elif method == "GET" and len(segments) == 4 and segments[2] == "_history":
                self.vread(rtype, segments[1], segments[3])
            elif method == "POST" and len(segments) == 1:
                self.create(rtype)
            elif method == "PUT" and len(segments) == 2:
                self.update(rtype, segments[1])
            elif method == "DELETE" and len(segments) == 2:
                self.store_delete(rtype, segments[1])
            else:
                self.read_body()
                self.fail(400, "not-supported", "%s %s is not an interaction of this server" % (method, self.path))

    def read(self, rtype, rid):
        current = self.peer.store.current(rtype, rid)
        if current is None:
            self.fail(404, "not-found", "no %s/%s here" % (rtype, rid))
        elif current.get("deleted"):
            self.fail(410, "deleted", "%s/%s was deleted" % (rtype, rid))
        else:
            self.reply(200, current, self.version_headers(current))

    def vread(self, rtype, rid, vid):
        for version in self.peer.store.history.get((rtype, rid), []):
            if version.get("meta", {}).get("versionId") == vid:
                self.reply(200, version, self.version_headers(version))
                return
        self.fail(404, "not-found", "no version %s of %s/%s" % (vid, rtype, rid))

    def notification_endpoint(self, method):
        """The rest-hook endpoint of the grouped subscriber (client.py subscribe): it keeps every
        notification it is sent; GET answers the last one."""
        if method == "POST":
            try:
                bundle = json.loads(self.read_body().decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.fail(400, "structure", "a notification is a JSON Bundle")
                return
            with self.peer.store.lock:
                self.peer.notifications.append(bundle)
            self.reply(200)
        elif method == "GET":
            with self.peer.store.lock:
                last = self.peer.notifications[-1] if self.peer.notifications else None
            self.reply(200, last) if last else self.fail(404, "not-found", "no notification yet")
        else:
            self.fail(405, "not-supported", "POST or GET")

    def history(self, rtype, rid):
        """The instance's versions, newest first (R4 history interaction)."""
        versions = self.peer.store.history.get((rtype, rid))
        if not versions:
            self.fail(404, "not-found", "no %s/%s here" % (rtype, rid))
            return
        base, entries = self.base_url(), []
        for number, version in reversed(list(enumerate(versions))):
            url = "%s/%s/%s" % (base, rtype, rid)
            if version.get("deleted"):
                entries.append({"fullUrl": url, "request": {"method": "DELETE", "url": "%s/%s" % (rtype, rid)}, "response": {"status": "204"}})
                continue
            method = "POST" if number == 0 else "PUT"
            entries.append({
                "fullUrl": url,
                "resource": version,
                "request": {"method": method, "url": rtype if method == "POST" else "%s/%s" % (rtype, rid)},
                "response": {"status": "201" if number == 0 else "200", "etag": 'W/"%s"' % version["meta"]["versionId"]},
            })
        self.reply(200, {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "history", "total": len(entries), "entry": entries})

    def answer_write(self, status, resource, location):
        headers = self.version_headers(resource)
        if location:
            headers["Location"] = location
        prefer = (self.headers.get("Prefer") or "").replace(" ", "")
        if "return=" not in prefer:
            prefer = "return=" + self.peer.args.default_return
        if "return=minimal" in prefer:
            self.reply(status, None, headers)
        elif "return=OperationOutcome" in prefer:
            self.reply(status, operation_outcome("informational", "stored", "information"), headers)
        else:
            self.reply(status, resource, headers)

    def location(self, rtype, resource):
        if "no-location" in self.peer.faults:
            return None
        root = "" if self.peer.args.relative_location else self.base_url() + "/"
        url = "%s%s/%s" % (root, rtype, resource["id"])
        if "no-history" in self.peer.faults:
            return url
        return url + "/_history/" + resource["meta"]["versionId"]

    def keep(self, rtype, rid, resource):
        """Store, then apply the business rules: data about a restricted patient is deleted again."""
        if "drop-payload" in self.peer.faults:
            resource.pop("payload", None)
        if rtype == "Subscription":
            problem = self.peer.subscription_problem(resource)
            if problem:
                self.fail(422, "not-supported", problem)
                return None
            resource["status"] = "requested"
        created = self.peer.store.current(rtype, rid) is None
        stored = self.peer.store.put(rtype, rid, resource)
        patient = self.restricted_patient(resource)
        if patient:
            self.peer.store.delete(rtype, rid)
            self.fail(422, "business-rule", "data about patient %s may not be shared with this server; it was deleted" % patient)
            return None
        if rtype == "Subscription":
            self.peer.handshake(stored, self.base_url())
        elif rtype == "Task" and self.peer.args.notified_pull:
            self.peer.notify(stored, self.base_url(), created)
        return stored

    def create(self, rtype):
        resource = self.parse_resource(rtype)
        if resource is None:
            return
        condition = self.headers.get("If-None-Exist")
        if condition:
            found = self.matching(rtype, urllib.parse.parse_qsl(condition))[0]
            if len(found) == 1:
                self.answer_write(200, found[0], None)
                return
            if len(found) > 1:
                self.fail(412, "duplicate", "If-None-Exist matches %d resources" % len(found))
                return
        resource.pop("id", None)  # R4: the server ignores an id given to create
        stored = self.keep(rtype, new_id(rtype), resource)
        if stored is not None:
            self.answer_write(201, stored, self.location(rtype, stored))

    def update(self, rtype, rid):
        resource = self.parse_resource(rtype)
        if resource is None:
            return
        if resource.get("id") != rid:
            self.fail(400, "invalid", "the body's id (%s) must be the id of the URL (%s)" % (resource.get("id"), rid))
            return
        current = self.peer.store.current(rtype, rid)
        exists = current is not None and not current.get("deleted")
        if_match = self.headers.get("If-Match")
        if if_match and (not exists or if_match.strip() != 'W/"%s"' % current["meta"]["versionId"]):
            self.fail(412, "conflict", "If-Match %s is not the current version" % if_match)
            return
        stored = self.keep(rtype, rid, resource)
        if stored is not None:
            status = 200 if exists else 201
            location = self.location(rtype, stored) if status == 201 else None
            self.answer_write(status, stored, location)

    def store_delete(self, rtype, rid):
        if self.peer.store.current(rtype, rid) is not None:
            self.peer.store.delete(rtype, rid)
        self.reply(204)

    # -- search --------------------------------------------------------------------------------

    def matching(self, rtype, query):
        """The matches, the parameters used, the parameters ignored (R4 lenient handling)."""
        params = dict(COMMON)
        params.update(SEARCH.get(rtype, FALLBACK))
        used, ignored, tests = [], [], []
        for name, value in query:
            base, _, modifier = name.partition(":")
            if base in params:
                if modifier:
                    raise ValueError("the modifier :%s of %s is not supported" % (modifier, base))
                kind, paths = params[base]
                tests.append((kind, paths, value.split(",")))
                used.append((name, value))
            elif not base.startswith("_"):
                ignored.append(name)
        found = []
        for resource in self.peer.store.all_of(rtype):
            if all(self.test(resource, kind, paths, wanted) for kind, paths, wanted in tests):
                found.append(resource)
        return found, used, ignored

    @staticmethod
    def test(resource, kind, paths, wanted):
        nodes = [node for path in paths for node in values(resource, path)]
        for want in wanted:
            for node in nodes:
                if kind == "id" and node == want:
                    return True
                if kind == "code" and node == want:
                    return True
                if kind == "token" and matches_token(node, want):
                    return True
                if kind in ("reference", "patient") and matches_reference(node, want, kind == "patient"):
                    return True
        return False

    def search(self, rtype, query):
        try:
            found, used, ignored = self.matching(rtype, query)
        except ValueError as err:
            self.fail(400, "not-supported", str(err))
            return
        count = dict(query).get("_count")
        size = int(count) if count and count.isdigit() else self.peer.args.page_size
        offset = dict(query).get("_offset", "0")
        offset = int(offset) if offset.isdigit() else 0
        page = found[offset : offset + size] if size else found
        self_query = urllib.parse.urlencode(used, safe="|/:,")
        base = self.base_url()
        links = [{"relation": "self", "url": "%s/%s?%s" % (base, rtype, self_query)}]
        if size and offset + size < len(found):
            after = urllib.parse.urlencode(used + [("_count", size), ("_offset", offset + size)], safe="|/:,")
            links.append({"relation": "next", "url": "%s/%s?%s" % (base, rtype, after)})
        bundle = {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": now().isoformat(timespec="milliseconds")},
            "type": "searchset",
            "total": len(found),
            "link": links,
            "entry": [
                {"fullUrl": "%s/%s/%s" % (base, rtype, r["id"]), "resource": r, "search": {"mode": "match"}}
                for r in page
            ],
        }
        if ignored:
            note = operation_outcome("not-supported", "ignored search parameters: " + ", ".join(ignored), "warning")
            bundle["entry"].append({"resource": note, "search": {"mode": "outcome"}})
        self.reply(200, bundle)

    # -- capability ----------------------------------------------------------------------------

    def capability_statement(self):
        resources = []
        for rtype in self.peer.types:
            entry = {
                "type": rtype,
                "interaction": [{"code": c} for c in ("read", "vread", "create", "update", "delete", "search-type")],
                "versioning": "versioned",
                "conditionalCreate": True,
                "searchParam": [
                    {"name": name, "type": "reference" if kind in ("reference", "patient") else "token"}
                    for name, (kind, _) in sorted({**COMMON, **SEARCH.get(rtype, FALLBACK)}.items())
                ],
            }
            if rtype in PROFILES:
                entry["supportedProfile"] = [PROFILES[rtype]]
            if rtype == "Subscription":
                entry["supportedProfile"] = [BACKPORT + "backport-subscription"]
            resources.append(entry)
        rest = {"mode": "server", "resource": resources}
        if self.peer.args.token:
            rest["security"] = {"description": "Bearer tokens issued out of band."}
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-12-01",
            "kind": "instance",
            "software": {"name": "cdex-independent-peer", "version": "0.1"},
            "implementation": {"description": "Independent CDex peer", "url": self.base_url()},
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [rest],
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--base-path", default="/fhir", help="the FHIR base's path (default /fhir)")
    parser.add_argument("--accept", default="cdex", help="cdex (Communication, CommunicationRequest, Task), any, or Type,Type")
    parser.add_argument("--token", help="require this bearer token on every request but GET metadata")
    parser.add_argument("--restricted-patient", action="append", default=[], help="a patient whose data is refused")
    parser.add_argument("--default-return", default="representation", choices=["representation", "minimal"],
                        help="what a create or update answers without a Prefer header")
    parser.add_argument("--relative-location", action="store_true", help="Location headers relative to the base")
    parser.add_argument("--page-size", type=int, default=0, help="search results per page (0 = all on one page)")
    parser.add_argument("--notified-pull", action="store_true",
                        help="claim the notified-pull option: Subscriptions to the HRex Task topic, rest-hook, handshake first")
    parser.add_argument("--no-handshake", action="store_true", help="a Subscription is active at once, without a handshake notification")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(FAULTS))
    args = parser.parse_args()
    Handler.peer = Peer(args)
    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    print(httpd.server_address[1], flush=True)
    log("serving FHIR at http://127.0.0.1:%d%s" % (httpd.server_address[1], Handler.peer.base_path))
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
