// The node side of invariants.py: evaluate each FHIRPath invariant that cdex-harness
// evaluated, again, with fhirpath.js (npm fhirpath@5.2.0, HL7's reference JavaScript
// implementation) and its R4 model, on the same value with the same %resource.
//
// stdin: [{resource, invariants: [{key, expression, pointer, resource_pointer,
//          element_level, type_name, def_path}], narratives: [Narrative]}]
// stdout: {out: per case, per invariant, "holds" | "fails" | "error: ..." | "skipped";
//          narratives: per case, per narrative, htmlChecks() (txt-1, txt-2) the same way}
//
// Usage: node fhirpath_invariants.js < cases.json   (NODE_PATH=/tmp/xcheck-node/node_modules)

const fhirpath = require('fhirpath');
const r4 = require('fhirpath/fhir-context/r4');

function at(value, pointer) {
  if (pointer === '') return value;
  let v = value;
  for (const part of pointer.split('/').slice(1)) {
    if (v === undefined || v === null) return undefined;
    v = v[part];
  }
  return v;
}

function outcome(resource, inv) {
  if (inv.pointer === null) return 'skipped';
  const value = at(resource, inv.pointer);
  const owner = at(resource, inv.resource_pointer);
  if (value === undefined || owner === undefined) return 'skipped';
  // The type path fhirpath.js types the value by: a datatype's name, a backbone element's
  // path, or the resource's type.
  const base = value && value.resourceType
    ? value.resourceType
    : inv.type_name || inv.def_path;
  if (!base) return 'skipped';
  try {
    const result = fhirpath.evaluate(
      value,
      { base, expression: inv.expression },
      { resource: owner, rootResource: resource },
      r4,
      { traceFn: () => {} },
    );
    return result.some((r) => r === false) ? 'fails' : 'holds';
  } catch (e) {
    return 'error: ' + String(e.message || e).split('\n')[0];
  }
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const cases = JSON.parse(input);
  const out = cases.map((c) => c.invariants.map((inv) => outcome(c.resource, inv)));
  // txt-1 and txt-2 are htmlChecks() on Narrative.div.
  const narratives = cases.map((c) => c.narratives.map((text) => {
    try {
      const r = fhirpath.evaluate(text, { base: 'Narrative', expression: '`div`.htmlChecks()' },
        {}, r4);
      return r.some((x) => x === false) ? 'fails' : 'holds';
    } catch (e) {
      return 'error: ' + String(e.message || e).split('\n')[0];
    }
  }));
  process.stdout.write(JSON.stringify({ out, narratives }));
});
