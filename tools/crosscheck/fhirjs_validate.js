// Second opinion #2: FHIR.js (npm `fhir` 4.12.0) Fhir().validate(), base R4 structure.
// Usage: NODE_PATH=/tmp/xcheck-node/node_modules node fhirjs_validate.js
// Reads a JSON array of [name, resource] pairs on stdin; prints a JSON object
// {name: {"valid": bool, "errors": [..]}} where errors are the fatal/error messages.
// With --bench N: validates the given resources N times in-process and prints resources/s.
const { Fhir } = require('fhir');
const fhir = new Fhir();
const opts = { errorOnUnexpected: true };
let input = '';
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  const items = JSON.parse(input);
  const i = process.argv.indexOf('--bench');
  if (i >= 0) {
    const n = parseInt(process.argv[i + 1] || '100', 10);
    for (const [, r] of items) fhir.validate(r, opts); // warm-up
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < n; k++) for (const [, r] of items) fhir.validate(r, opts);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(JSON.stringify({ resources: n * items.length, seconds: s }));
    return;
  }
  const out = {};
  for (const [name, r] of items) {
    let res;
    try {
      res = fhir.validate(r, opts);
    } catch (e) {
      out[name] = { valid: false, errors: ['exception: ' + e.message] };
      continue;
    }
    const errors = res.messages
      .filter((m) => m.severity === 'error' || m.severity === 'fatal')
      .map((m) => `${m.location}: ${m.message}`);
    out[name] = { valid: errors.length === 0, errors };
  }
  console.log(JSON.stringify(out));
});
