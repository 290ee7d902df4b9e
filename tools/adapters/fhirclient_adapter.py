#!/usr/bin/env python3
"""A `--trigger` adapter that makes a real FHIR client library, Python `fhirclient` (4.x, the
SMART on FHIR Python client), act as the Information Client, the Information Sender or the
Information Request Sender under test:

    cdex-harness run --actor information-client --trigger 'PYTHON tools/adapters/fhirclient_adapter.py'

PYTHON is an interpreter with `fhirclient` installed (`.ci/run` makes one at target/pyenv). Each
action is done the way an application using the library would: a `FHIRClient` whose server is the
harness (the library reads the CapabilityStatement itself, in `prepare()`), the bearer token
(`CDEX_VAR_TOKEN`) on the library's requests session, and the model classes' `create`, `update`,
`read` and `where(...).perform_resources`. Whatever the library sends on its own is left as it is:
if the harness fails a scenario for it, that is the harness's bug, not the adapter's to hide.

Actions: push-create, push-update, pull-read, pull-search, send-communication,
send-communication-request (docs/actions.md).
"""

import importlib
import json
import os
import sys
import urllib.parse

from fhirclient import client


def env(name, default=None):
    value = os.environ.get("CDEX_" + name)
    return value if value not in (None, "") else default


def log(*parts):
    print("[fhirclient-adapter]", *parts, file=sys.stderr, flush=True)


def model_class(resource_type):
    """The fhirclient model class of a resource type (fhirclient.models.condition.Condition...)."""
    module = importlib.import_module("fhirclient.models." + resource_type.lower())
    return getattr(module, resource_type)


def suggested_payload(resource_type):
    path = env("PAYLOAD_FILE")
    if not path:
        raise SystemExit("action %s needs a payload (CDEX_PAYLOAD_FILE) to build its %s" % (env("ACTION"), resource_type))
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if env("PROFILE"):
        profiles = data.setdefault("meta", {}).setdefault("profile", [])
        if env("PROFILE") not in profiles:
            profiles.append(env("PROFILE"))
    return data


def connect():
    """A FHIRClient on the harness's endpoint, as an application would set one up."""
    smart = client.FHIRClient(settings={"app_id": "cdex-harness-fhirclient-adapter", "api_base": env("HARNESS_URL")})
    token = env("VAR_TOKEN")
    if token:
        smart.server.session.headers["Authorization"] = "Bearer " + token
    smart.prepare()  # the library fetches the CapabilityStatement (GET metadata)
    return smart.server


def push_create(server):
    rtype = env("RESOURCE_TYPE")
    resource = model_class(rtype)(suggested_payload(rtype))
    resource.id = None
    answer = resource.create(server)
    log("created", rtype, (answer or {}).get("id"))


def push_update(server):
    rtype, rid = env("RESOURCE_TYPE"), env("RESOURCE_ID")
    resource = model_class(rtype)(suggested_payload(rtype))
    resource.id = rid
    answer = resource.update(server)
    log("updated", rtype, rid, (answer or {}).get("meta"))


def pull_read(server):
    rtype, rid = env("RESOURCE_TYPE"), env("RESOURCE_ID")
    resource = model_class(rtype).read(rid, server)
    log("read", rtype, resource.id)


def pull_search(server):
    rtype = env("RESOURCE_TYPE")
    struct = dict(urllib.parse.parse_qsl(env("SEARCH", ""), keep_blank_values=True))
    found = model_class(rtype).where(struct).perform_resources(server)
    log("found", len(found), rtype)


def send_communication(server):
    communication = model_class("Communication")
    from fhirclient.models import fhirreference, identifier

    resource = communication(suggested_payload("Communication"))
    resource.id = None
    if env("BASED_ON"):
        ref = fhirreference.FHIRReference({"reference": env("BASED_ON")})
        if env("BASED_ON_IDENTIFIER"):
            system, _, value = env("BASED_ON_IDENTIFIER").partition("|")
            ref.identifier = identifier.Identifier({"system": system, "value": value})
        resource.basedOn = [ref]
    answer = resource.create(server)
    log("sent Communication", (answer or {}).get("id"))


def send_communication_request(server):
    """Information Request Sender: the suggested request already names our Information
    Recipient (CDEX_RECIPIENT_ADDRESS) in a contained Endpoint."""
    resource = model_class("CommunicationRequest")(suggested_payload("CommunicationRequest"))
    resource.id = None
    answer = resource.create(server)
    log("sent CommunicationRequest", (answer or {}).get("id"))


ACTIONS = {
    "push-create": push_create,
    "push-update": push_update,
    "pull-read": pull_read,
    "pull-search": pull_search,
    "send-communication": send_communication,
    "send-communication-request": send_communication_request,
}


def main():
    action = env("ACTION", "")
    if action not in ACTIONS:
        raise SystemExit("action '%s' is not supported by the fhirclient adapter (it does: %s)" % (action, ", ".join(ACTIONS)))
    log(action, "for", env("SCENARIO"), "/", env("STEP"))
    ACTIONS[action](connect())


if __name__ == "__main__":
    main()
