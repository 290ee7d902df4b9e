"""Generate the invalid corpus, crates/cdex-fhir/tests/validation/invalid/*.json, from the CDex 2.1.0 examples
in crates/cdex-fhir/tests/validation/examples/: each case changes one thing and names the issues it must
produce (severity, location, message substring) and the profile to validate against.

    python3 tools/make_invalid_corpus.py
"""
import json, copy, os
HERE=os.path.dirname(os.path.abspath(__file__))
E=os.path.join(HERE,'..','crates','cdex-fhir','tests','validation','examples')+'/'
OUT=os.path.join(HERE,'..','crates','cdex-fhir','tests','validation','invalid')+'/'
def ex(n): return json.load(open(E+n+'.json'))
TDR='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-data-request'
TAR='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task-attachment-request'
PSA='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-parameters-submit-attachment'
SIGB='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-signature-bundle'
T19='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-task'
C19='http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-communication'
cases={}
def case(name, desc, res, expect, profile=None):
    d={"description":desc}
    if profile: d["profile"]=profile
    d["expect"]=[dict(zip(("severity","location","message"),e)) for e in expect]
    d["resource"]=res
    cases[name]=d

t=ex('cdex-task-example1')
# ---- base structure
r=copy.deepcopy(t); r['priority2']='routine'
case('base-unknown-element','an element R4 does not define',r,[("error","Task.priority2","unknown element `priority2`")])
r=copy.deepcopy(t); del r['status']
case('base-missing-required','Task.status is 1..1 in R4',r,[("error","Task","missing required element `status`")])
r=copy.deepcopy(t); r['status']=['requested']
case('base-array-for-single','an array where R4 allows one value',r,[("error","Task.status","allows one value")])
r=copy.deepcopy(t); r['identifier']={"value":"x"}
case('base-single-for-array','a single value where R4 wants an array',r,[("error","Task.identifier","must be a JSON array")])
r=copy.deepcopy(t); r['authoredOn']='2020-10-26 02:58'
case('base-datetime-format','dateTime with a space and no seconds',r,[("error","Task.authoredOn","is not a valid dateTime")])
r=copy.deepcopy(t); r['id']='task 1'
case('base-id-format','id with a space',r,[("error","Task.id","is not a valid id")])
r=copy.deepcopy(t); r['meta']={"lastUpdated":"2020-10-26"}
case('base-instant-format','instant without a time',r,[("error","Task.meta.lastUpdated","is not a valid instant")])
r=copy.deepcopy(t); r['restriction']={"repetitions":"2"}
case('base-integer-type','positiveInt given as a string',r,[("error","Task.restriction.repetitions","must be a JSON integer")])
r=copy.deepcopy(t); r['input'][0]['valueBoolean']=True
case('base-choice-two-types','two types of one choice element',r,[("error","Task.input[0]","`value[x]` takes one type only")])
r=copy.deepcopy(t); r['input'][0]['valueFoo']='x'
case('base-choice-unknown-type','a choice suffix that is not an allowed type',r,[("error","Task.input[0].valueFoo","unknown element `valueFoo`")])
r=copy.deepcopy(t); r['status']='open'
case('base-required-binding','status outside the required R4 value set',r,[("error","Task.status","is not in the required value set http://hl7.org/fhir/ValueSet/task-status")])
r=copy.deepcopy(t); r['for']={"reference":"Patient 1"}
case('base-reference-format','a reference that is neither Type/id nor a URL',r,[("error","Task.for.reference","is not a valid reference")])
r=copy.deepcopy(t); r['partOf']=[{"reference":"Patient/1"}]
case('base-reference-target','Task.partOf may only point to a Task',r,[("error","Task.partOf[0].reference","a reference to Patient is not allowed here")])
r=copy.deepcopy(t); r['for']={"reference":"#pat"}
case('base-contained-unresolved','#id with no contained resource of that id',r,[("error","Task.for.reference","does not resolve to a contained resource")])
r=copy.deepcopy(t); r['contained']=[{"resourceType":"Patient","id":"p","gender":"unknown-x"}]; r['for']={"reference":"#p"}
case('base-contained-content','a contained resource is validated too',r,[("error","Task.contained[0].gender","is not in the required value set http://hl7.org/fhir/ValueSet/administrative-gender")])
r=copy.deepcopy(t); r['note']=[]
case('base-empty-array','empty arrays are not allowed in FHIR JSON',r,[("error","Task.note","empty arrays")])
r=copy.deepcopy(t); r['_status']={"extension":[{"url":"http://x","valueBoolean":"yes"}]}
case('base-primitive-extension','extension of a primitive, with a wrong value type',r,[("error","Task._status.extension[0].valueBoolean","must be a JSON boolean")])
r=copy.deepcopy(t); r['resourceType']='Tusk'
case('base-unknown-resource-type','not an R4 resource type',r,[("error","Tusk","`Tusk` is not an R4 resource type")])
b=ex('cdex-searchbundle-scenario1-example'); b['entry'][0]['resource']['clinicalStatus']='active'
case('base-nested-bundle-entry','a resource in a Bundle entry is validated (type: object expected)',b,[("error","Bundle.entry[0].resource.clinicalStatus","must be a JSON object")])
r=copy.deepcopy(t); r['extension']=[{"url":"http://example.org/ext","valueString":"a","extension":[{"url":"x","valueString":"b"}]}]
case('base-ext-1','ext-1: an extension has extensions or a value, not both',r,[("error","Task.extension[0]","ext-1:")])
r=copy.deepcopy(t); r['contained']=[{"resourceType":"Patient","id":"p1"}]
case('base-dom-3','dom-3: a contained resource nobody refers to',r,[("error","Task.contained[0]","dom-3:")])
r=copy.deepcopy(t); r['contained']=[{"resourceType":"Patient","id":"p1","meta":{"versionId":"2"}}]; r['for']={"reference":"#p1"}
case('base-dom-4','dom-4: a contained resource has no meta.versionId',r,[("error","Task.contained[0].meta.versionId","dom-4:")])
r=copy.deepcopy(t); r['input'].append({"type":{"text":"note"},"valueAttachment":{"contentType":"text/plain","data":"aGVsbG8"}})
case('base-base64-format','base64Binary of 7 characters: not whole groups of four (RFC 4648)',r,[("error","Task.input[2].valueAttachment.data","is not a valid base64Binary")])
# ---- base invariants (profiles/r4/invariants.json, evaluated through FHIRPath)
r=copy.deepcopy(t); r['lastModified']='2020-10-25T00:00:00Z'
case('base-invariant-inv-1','Task inv-1: lastModified before authoredOn',r,[("error","Task","inv-1:")])
r=copy.deepcopy(t); r['executionPeriod']={"start":"2021-01-02","end":"2021-01-01"}
case('base-invariant-per-1','Period per-1 (a datatype invariant): start after end',r,[("error","Task.executionPeriod","per-1:")])
r=copy.deepcopy(t); r['input'].append({"type":{"text":"note"},"valueAttachment":{"data":"aGk="}})
case('base-invariant-att-1','Attachment att-1: data without a contentType',r,[("error","Task.input[2].valueAttachment","att-1:")])
b=ex('cdex-searchbundle-scenario1-example'); b['entry'].append({"fullUrl":"http://example.org/fhir/Condition/x"})
case('base-invariant-bdl-5','Bundle bdl-5 (a backbone element invariant): an entry with no resource, request or response',b,[("error","Bundle.entry[%d]"%(len(b['entry'])-1),"bdl-5:")])
b=ex('cdex-searchbundle-scenario1-example'); tt=copy.deepcopy(t); tt['lastModified']='2020-10-25T00:00:00Z'; b['entry'][0]['resource']=tt
case('base-invariant-nested','a base invariant of a resource in a Bundle entry (Task inv-1)',b,[("error","Bundle.entry[0].resource","inv-1:")])
# the R4 invariants of the other resources CDex exchanges: Bundle (searchset, document,
# message), Parameters, QuestionnaireResponse
sb=ex('cdex-searchbundle-scenario2-example')
def nosearch(r): return [{k:v for k,v in e.items() if k!='search'} for e in r['entry']]
def bundle_case(key, desc, r, at='Bundle'):
    case('base-invariant-'+key, 'Bundle '+key+': '+desc, r, [("error", at, key+":")])
r=copy.deepcopy(sb); r['type']='collection'; r['entry']=nosearch(r); bundle_case('bdl-1','a total in a collection',r)
r=copy.deepcopy(sb); r['type']='collection'; r.pop('total',None); bundle_case('bdl-2','entry.search in a collection',r)
r=copy.deepcopy(sb); r['type']='batch'; r.pop('total',None); r['entry']=nosearch(r); bundle_case('bdl-3','a batch whose entries have no request',r)
r=copy.deepcopy(sb); r['entry'][0]['response']={"status":"200 OK"}; bundle_case('bdl-4','a response in a searchset entry',r)
r=copy.deepcopy(sb); r['entry'][1]['fullUrl']=r['entry'][0]['fullUrl']; bundle_case('bdl-7','two entries with one fullUrl',r)
r=copy.deepcopy(sb); r['entry'][0]['fullUrl']+='/_history/1'; bundle_case('bdl-8','a version-specific fullUrl',r,'Bundle.entry[0]')
doc=ex('cdex-document-digital-sig-example')
r=copy.deepcopy(doc); del r['identifier']; bundle_case('bdl-9','a document without an identifier',r)
r=copy.deepcopy(doc); del r['timestamp']; bundle_case('bdl-10','a document without a timestamp',r)
r=copy.deepcopy(doc); r['entry']=r['entry'][1:]+r['entry'][:1]; bundle_case('bdl-11','a document whose first entry is not the Composition',r)
r=copy.deepcopy(sb); r['type']='message'; r.pop('total',None); r['entry']=nosearch(r); bundle_case('bdl-12','a message whose first entry is not a MessageHeader',r)
r=ex('cdex-parameters-example1'); r['parameter'][0]['part']=[{"name":"a","valueString":"b"}]
case('base-invariant-parameters-inv-1','Parameters inv-1: a parameter with a value and parts',r,[("error","Parameters.parameter[0]","inv-1:")])
r=ex('cdex-questionnaireresponse-example1'); r['item'][0]['item']=[{"linkId":"zz","text":"nested"}]
case('base-invariant-qrs-1','QuestionnaireResponse qrs-1: an item with both answers and items',r,[("error","QuestionnaireResponse.item[0]","qrs-1:")])
NS='xmlns="http://www.w3.org/1999/xhtml"'
r=copy.deepcopy(t); r['text']={"status":"generated","div":'<div %s><p onclick="alert(1)">Claim <script>alert(2)</script></p></div>'%NS}
case('base-narrative-txt-1','Narrative txt-1 (htmlChecks(), native): a script element and an event attribute',r,[("error","Task.text.div","txt-1: the narrative must not have the attribute `onclick` on `p`"),("error","Task.text.div","txt-1: the narrative must not contain a `script` element")])
r=copy.deepcopy(t); r['text']={"status":"generated","div":'<div %s>\n  <p> </p>\n</div>'%NS}
case('base-narrative-txt-2','Narrative txt-2 (htmlChecks(), native): only whitespace',r,[("error","Task.text.div","txt-2: the narrative has no content")])
r=copy.deepcopy(t); r['text']={"status":"generated","div":'<div %s><p xmlns="urn:example">another namespace</p></div>'%NS}
case('base-narrative-namespace','Narrative txt-1: an element in another namespace than XHTML',r,[("error","Task.text.div","txt-1: the narrative must not declare another namespace than XHTML (on `p`)")])
# ---- profiles: data request
r=copy.deepcopy(t); del r['code']
case('profile-min','cdex-task-data-request: Task.code 1..1',r,[("error","Task","`code` has 0 occurrence(s), the profile requires at least 1")],TDR)
r=copy.deepcopy(t); r['intent']='plan'
case('profile-fixed','cdex-task-data-request: intent fixed to order',r,[("error","Task.intent","must be exactly \"order\"")],TDR)
r=copy.deepcopy(t); r['code']['coding'][0]['code']='data-request-everything'
case('profile-required-binding','cdex-task-data-request: Task.code bound (required) to cdex-data-request-task-code',r,[("error","Task.code","is not in the required value set http://hl7.org/fhir/us/davinci-cdex/ValueSet/cdex-data-request-task-code")],TDR)
r=copy.deepcopy(t); r['code']['coding'][0]['system']='http://example.org/codes'
case('profile-fixed-uri','cdex-task-data-request: Task.code.coding.system fixed',r,[("error","Task.code.coding[0].system","must be exactly \"http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp\""),("error","Task.code","is not in the required value set")],TDR)
r=copy.deepcopy(t); r['input'].append(copy.deepcopy(r['input'][0]))
case('profile-slice-max','cdex-task-data-request: at most one query input',r,[("error","Task.input[2]","slice `query` of `input` has 2 occurrence(s), the profile allows at most 1"),("error","Task","cdex-9:")],TDR)
r=copy.deepcopy(t); del r['input'][0]['valueString']; r['input'][0]['valueInteger']=3
case('profile-choice-type','cdex-task-data-request: the query input value must be a string',r,[("error","Task.input[0].valueInteger","the profile allows string here")],TDR)
r=copy.deepcopy(t); r['input'][1]['valueCodeableConcept']['coding'][0]['code']='MARKETING'
case('profile-extensible-binding','cdex-task-data-request: POU bound (extensible) to cdex-POU: a warning, not an error',r,[("warning","Task.input[1].valueCodeableConcept","is not in the extensible value set http://hl7.org/fhir/us/davinci-cdex/ValueSet/cdex-POU")],TDR)
r=copy.deepcopy(t); r['meta']={"tag":[{"system":"http://hl7.org/fhir/us/davinci-cdex/CodeSystem/cdex-temp"}]}
case('profile-sliced-child-min','cdex-task-data-request: meta.tag.code 1..1 (rules on the sliced element apply to every tag)',r,[("error","Task.meta.tag[0]","`code` has 0 occurrence(s), the profile requires at least 1")],TDR)
r=copy.deepcopy(t); r['statusReason']={"coding":[{"code":"x"}]}
case('profile-nested-min','cdex-task-data-request: statusReason.text 1..1',r,[("error","Task.statusReason","`text` has 0 occurrence(s), the profile requires at least 1")],TDR)
r=copy.deepcopy(t); r['focus']={"reference":"Claim/1"}
case('profile-max-zero','cdex-task-data-request: Task.focus 0..0',r,[("error","Task.focus","`focus` has 1 occurrence(s), the profile allows at most 0")],TDR)
# ---- attachment request
a=ex('cdex-task-example19')
r=copy.deepcopy(a); r['identifier'][0]['type']['coding'][0]['code']='other-id'
case('profile-pattern-slice-min','cdex-task-attachment-request: the tracking-id identifier slice (patternIdentifier) is required',r,[("error","Task","slice `tracking-id` of `identifier` has 0 occurrence(s), the profile requires at least 1")],TAR)
r=copy.deepcopy(a); r['for']['reference']='#pat'
for c in r['contained']:
    if c['resourceType']=='Patient': c['id']='pat'
case('profile-contained-target-profile','cdex-task-attachment-request: for.reference fixed #patient; the contained Patient checked against cdex-patient-demographics (id fixed)',r,[("error","Task.for.reference","must be exactly \"#patient\""),("error","Task.contained[0].id","must be exactly \"patient\"")],TAR)
r=copy.deepcopy(a); r['contained']=[c for c in r['contained'] if c['resourceType']!='Patient']; r['for']={"reference":"Patient/1"}
case('profile-type-slice','cdex-task-attachment-request: Task.contained sliced by type: the Patient slice is required',r,[("error","Task","`contained` has 1 occurrence(s), the profile requires at least 2"),("error","Task","slice `patient` of `contained` has 0 occurrence(s), the profile requires at least 1"),("error","Task.for.reference","must be exactly \"#patient\"")],TAR)
# ---- parameters
p=ex('cdex-parameters-example1')
r=copy.deepcopy(p); r['parameter'].append({"name":"Comment","valueString":"x"})
case('profile-closed-slicing','cdex-parameters-submit-attachment: parameter slicing is closed',r,[("error","Parameters.parameter[%d]"%len(p['parameter']),"matches no slice of `parameter`")],PSA)
r=copy.deepcopy(p); r['parameter']=[x for x in r['parameter'] if x['name']!='TrackingId']+[{"name":"Final","valueBoolean":True}]
case('profile-required-slice','cdex-parameters-submit-attachment: TrackingId is 1..1',r,[("error","Parameters","slice `TrackingId` of `parameter` has 0 occurrence(s), the profile requires at least 1")],PSA)
r=copy.deepcopy(p)
for x in r['parameter']:
    if x['name']=='AttachTo': x['valueCode']='referral'
case('profile-required-binding-code','cdex-parameters-submit-attachment: AttachTo bound (required) to cdex-claim-use',r,[("error","Parameters.parameter[1].valueCode","is not in the required value set http://hl7.org/fhir/us/davinci-cdex/ValueSet/cdex-claim-use")],PSA)
# ---- signature bundle (datatype profile)
s=ex('cdex-searchbundle-digital-sig-example')
r=copy.deepcopy(s); r['signature']['type'][0]['code']='1.2.840.10065.1.12.1.1'
case('profile-datatype-profile','cdex-signature-bundle: Bundle.signature is a cdex-signature, whose verify type slice is required',r,[("error","Bundle.signature","slice `verify` of `type` has 0 occurrence(s), the profile requires at least 1")],SIGB)
# ---- 2019 draft
t19={"resourceType":"Task","identifier":[{"value":"1"}],"status":"requested","intent":"order",
 "code":{"coding":[{"system":"http://hl7.org/fhir/CodeSystem/task-code","code":"approve"}]},
 "focus":{"reference":"Communication/1"},"for":{"reference":"Organization/1"},
 "requester":{"reference":"Organization/1"},"owner":{"reference":"Organization/2"}}
case('profile-pattern-2019','2019 cdex-task: code pattern task-code#fulfill; for must be a Patient',t19,[("error","Task.code","must match patternCodeableConcept"),("error","Task.for.reference","points to a Organization; the profile allows Patient")],T19)
c19={"resourceType":"Communication","status":"completed","subject":{"reference":"Patient/1"},"sender":{"reference":"Organization/1"},
 "recipient":[{"reference":"Organization/2"}],"payload":[{"extension":[{"url":"http://hl7.org/fhir/us/davinci-cdex/StructureDefinition/cdex-payload-query-string","valueInteger":1}],"contentString":"x"}]}
case('profile-extension-profile','2019 cdex-communication: the payload query-string extension (its own profile) holds a string',c19,[("error","Communication.payload[0].extension[0].valueInteger","the profile allows string here")],C19)
# ---- FHIRPath invariants
r=copy.deepcopy(t); del r['input'][0]
case('invariant-cdex-12','cdex-task-data-request: a data-request-query Task needs a data-query input (cdex-12), and exactly one query/code/questionnaire input (cdex-9)',r,[("error","Task","cdex-12:"),("error","Task","cdex-9:")],TDR)
r=copy.deepcopy(t); r['status']='completed'
case('invariant-tdr-3','cdex-task-data-request: a completed Task has an output (tdr-3)',r,[("error","Task","tdr-3:")],TDR)
r=copy.deepcopy(a); r['input'][3]['valueDate']='2020-10'
case('invariant-cdex-2','cdex-task-attachment-request: the service date is a full date (cdex-2, an element-level invariant)',r,[("error","Task.input[3].valueDate","cdex-2:")],TAR)
r=copy.deepcopy(s); r['signature']['who']={"identifier":{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"NPI"}]},"value":"1"}}
case('invariant-cdex-13','cdex-signature (on Bundle.signature): who has a reference, or an identifier and a display (cdex-13)',r,[("error","Bundle.signature","cdex-13:")],SIGB)
# every other cdex-* and tdr-* invariant of the 2.1.0 Task profiles (and PractitionerRole)
def codes(i): return [c.get('code') for c in i.get('type',{}).get('coding',[])]
def without_input(name, code):
    r=ex(name); r['input']=[i for i in r['input'] if code not in codes(i)]; return r
r=without_input('cdex-task-example19','service-date')
case('invariant-cdex-1','cdex-task-attachment-request: an attachment request for a claim needs a service-date input (cdex-1)',r,[("error","Task","cdex-1:")],TAR)
r=ex('cdex-task-example19'); pr=r['contained'][1]
for k in ('practitioner','organization'): del pr[k]['identifier']; pr[k]['display']='x'
case('invariant-cdex-3','cdex-practitionerrole (a contained target of the attachment request): a practitioner or organization identifier (cdex-3; the profile also requires both, so those fail too)',r,[("error","Task.contained[1]","cdex-3:"),("error","Task.contained[1].practitioner","`identifier` has 0 occurrence(s)"),("error","Task.contained[1].organization","`identifier` has 0 occurrence(s)")],TAR)
r=without_input('cdex-task-example19','attachments-needed')
case('invariant-cdex-4','cdex-task-attachment-request: an attachment-request-code Task needs attachments-needed inputs (cdex-4)',r,[("error","Task","cdex-4:")],TAR)
r=without_input('cdex-task-example23','questionnaire-context')
case('invariant-cdex-5','cdex-task-attachment-request: an attachment-request-questionnaire Task needs a questionnaire-context input (cdex-5)',r,[("error","Task","cdex-5:")],TAR)
r=ex('cdex-task-example19'); r['input'].append([i for i in ex('cdex-task-example23')['input'] if 'questionnaire-context' in codes(i)][0])
case('invariant-cdex-6','cdex-task-attachment-request: attachments-needed and questionnaire-context inputs, not both (cdex-6)',r,[("error","Task","cdex-6:")],TAR)
r=without_input('cdex-task-example13','data-code')
case('invariant-cdex-7','cdex-task-data-request: a data-request-code Task needs a data-code input (cdex-7), and one query/code/questionnaire input (cdex-9)',r,[("error","Task","cdex-7:"),("error","Task","cdex-9:")],TDR)
r=without_input('cdex-task-example26','questionnaire')
case('invariant-cdex-8','cdex-task-data-request: a data-request-questionnaire Task needs a questionnaire input (cdex-8), and one query/code/questionnaire input (cdex-9)',r,[("error","Task","cdex-8:"),("error","Task","cdex-9:")],TDR)
r=ex('cdex-task-example24'); del r['output']
case('invariant-cdex-10','cdex-task-attachment-request: a completed questionnaire request should have a questionnaire-context output (cdex-10, a warning)',r,[("warning","Task","cdex-10:")],TAR)
r=ex('cdex-task-example27')
for o in r['output']:
    for c in o['type']['coding']: c['code']='data-value'
case('invariant-cdex-11','cdex-task-data-request: a completed questionnaire data request should have a questionnaire-response output (cdex-11, a warning)',r,[("warning","Task","cdex-11:")],TDR)
r=ex('cdex-task-example9'); del r['statusReason']
case('invariant-tdr-2','cdex-task-data-request: a failed Task has a statusReason (tdr-2)',r,[("error","Task","tdr-2:")],TDR)
# ---- R4 Subscriptions Backport (compiled from FSH by tools/fsh_to_sd.py)
BP='http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/'
sub=ex('cdex-task-inline-scenario1-subscription-active')
r=copy.deepcopy(sub); del r['channel']['_payload']
case('backport-required-extension','backport-subscription: channel.payload carries the payload-content extension (1..1), in `_payload`',r,[("error","Subscription.channel.payload","slice `content` of `extension` has 0 occurrence(s), the profile requires at least 1")],BP+'backport-subscription')
r=copy.deepcopy(sub); r['channel']['_payload']['extension'][0]['valueCode']='everything'
case('backport-extension-binding','backport-payload-content: the code is from backport-content-value-set (required)',r,[("error","Subscription.channel.payload.extension[0].valueCode","is not in the required value set http://hl7.org/fhir/uv/subscriptions-backport/ValueSet/backport-content-value-set")],BP+'backport-subscription')
note=ex('cdex-task-inline-scenario1-subscription-notification')
r=copy.deepcopy(note); r['type']='searchset'
for e in r['entry']:
    e.pop('request',None); e.pop('response',None)  # what the R4 base wants of a searchset (bdl-3, bdl-4)
case('backport-notification-type','backport-subscription-notification-r4: Bundle.type is history (the entries drop request and response, as the R4 base wants of a searchset, so only the profile is broken)',r,[("error","Bundle.type","must be exactly \"history\"")],BP+'backport-subscription-notification-r4')
r=copy.deepcopy(note); r['entry'][0]['resource']['parameter']=[x for x in r['entry'][0]['resource']['parameter'] if x['name']!='status']
case('backport-status-parameter','backport-subscription-status-r4 (the first entry): the status parameter is 1..1',r,[("error","Bundle.entry[0].resource","slice `status` of `parameter` has 0 occurrence(s), the profile requires at least 1")],BP+'backport-subscription-notification-r4')
r=copy.deepcopy(note); r['entry'][0]['resource']=copy.deepcopy(t)
case('backport-notification-no-status','backport-subscription-notification-r4: the entry slice by resource type finds no Parameters; the invariant fails',r,[("error","Bundle","slice `subscriptionStatus` of `entry` has 0 occurrence(s), the profile requires at least 1"),("error","Bundle","backport-notification-bundle-r4-1:")],BP+'backport-subscription-notification-r4')
for n,d in cases.items():
    with open(OUT+n+'.json','w') as f:
        json.dump(d,f,indent=2); f.write('\n')
print(len(cases))
