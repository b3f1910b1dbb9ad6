// The playground's module in Node: every example of the menu decides what it
// is there to show, and what is wrong in the inputs is reported at its place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, readiness } from '../tools/policy.mjs';
import { examples, readinessExample } from '../examples.js';

const example = (id) => examples.find((e) => e.id === id);
const ops = (evaluation) => evaluation.patch?.map((op) => `${op.op} ${op.path}`);

test('every example evaluates without input errors under valid settings', () => {
  assert.equal(examples.length, 6);
  for (const e of examples) {
    const evaluation = evaluate(e);
    assert.deepEqual(evaluation.inputErrors, [], e.id);
    assert.deepEqual(evaluation.settings, { valid: true, message: null }, e.id);
  }
});

test('Job with a legacy proxy: rejected, naming the container, the rule and the fix', () => {
  const { verdict, patch } = evaluate(example('job-legacy-proxy'));
  assert.equal(verdict.accepted, false);
  assert.equal(verdict.code, 400);
  assert.match(verdict.message, /^This Job would never complete: container "istio-proxy"/);
  assert.match(verdict.message, /Fix: move it to spec.template.spec.initContainers with restartPolicy: Always/);
  assert.equal(patch, null);
});

test('Job with a legacy proxy, convert: the container moves behind the init containers', () => {
  const evaluation = evaluate(example('job-convert'));
  assert.equal(evaluation.verdict.accepted, true);
  // After istio-init, which sets up the iptables rules the proxy relies on.
  assert.deepEqual(ops(evaluation), ['remove /spec/template/spec/containers/1', 'add /spec/template/spec/initContainers/1']);
  const moved = evaluation.patch[1].value;
  assert.equal(moved.name, 'istio-proxy');
  assert.equal(moved.restartPolicy, 'Always');
  // Marked, so that a webhook that strips restartPolicy later leaves conclusive evidence.
  assert.deepEqual(moved.env, [{ name: 'KUBEWARDEN_NATIVE_SIDECAR', value: '(converted)' }]);
  assert.match(evaluation.verdict.warnings[0], /"istio-proxy" .* converted to a native sidecar/);
  // YAML in, YAML out; the highlighted lines include what the conversion added.
  const lines = evaluation.patched.text.split('\n');
  assert.equal(evaluation.patched.format, 'yaml');
  const changed = evaluation.patched.changed.map((n) => lines[n - 1].trim());
  for (const added of ['env:', '- name: KUBEWARDEN_NATIVE_SIDECAR', 'value: (converted)', 'restartPolicy: Always']) {
    assert.ok(changed.includes(added), `${added} not highlighted in ${changed}`);
  }
});

test('injection adds the sidecar, its volume, and the app containers\' mounts and env', () => {
  const evaluation = evaluate(example('inject-volumes'));
  assert.deepEqual(ops(evaluation), ['add /metadata/annotations', 'add /spec/containers/0/env',
    'add /spec/containers/0/volumeMounts', 'add /spec/initContainers', 'add /spec/volumes']);
  const [sidecar] = evaluation.patch.find((op) => op.path === '/spec/initContainers').value;
  assert.deepEqual([sidecar.name, sidecar.restartPolicy], ['log-shipper', 'Always']);
  // Evaluating the patched pod again changes nothing: injection is idempotent.
  const again = evaluate({ ...example('inject-volumes'), object: evaluation.patched.text });
  assert.deepEqual([again.verdict.accepted, again.patch], [true, null]);
});

test('stripped restartPolicy on UPDATE: rejected with the evidence from the stored object', () => {
  const { verdict } = evaluate(example('stripped-field'));
  assert.equal(verdict.accepted, false);
  assert.match(verdict.message, /init container "vpn" has no restartPolicy/);
  assert.match(verdict.message, /the stored object has restartPolicy: Always for it/);
});

test('mixed-version nodes: a pod bound to the 1.27 pool gets the legacy sidecar, the 1.30 pool the native one', () => {
  const old = evaluate(example('mixed-nodes'));
  assert.deepEqual(ops(old), ['add /metadata/annotations', 'add /spec/containers/1']);
  assert.match(old.patch[0].value['native-sidecar.kubewarden.io/status'], /"mode":"legacy"/);
  const object = example('mixed-nodes').object.replace('pool: b', 'pool: a');
  const current = evaluate({ ...example('mixed-nodes'), object });
  assert.deepEqual(ops(current), ['add /metadata/annotations', 'add /spec/initContainers']);
  assert.equal(current.patch[1].value[0].restartPolicy, 'Always');
  // Without the Node list the policy cannot tell, and says so.
  const unknown = evaluate({ ...example('mixed-nodes'), cluster: '' });
  assert.ok(unknown.verdict.warnings.some((w) => /node/i.test(w)), unknown.verdict.warnings.join('\n'));
});

test('universal injection: a native copy, a legacy twin and the emptyDir they agree through', () => {
  const evaluation = evaluate(example('universal'));
  const added = (path) => evaluation.patch.find((op) => op.path === path)?.value;
  const [native] = added('/spec/initContainers');
  const legacy = added('/spec/containers/1');
  assert.equal(native.restartPolicy, 'Always');
  assert.equal(legacy.restartPolicy, undefined);
  assert.notEqual(native.name, legacy.name);
  assert.equal(added('/spec/volumes').length, 2);
});

test('input errors are reported per input, with line and column where known', () => {
  const base = example('inject-volumes');
  const cases = [
    [{ object: 'kind: Pod\nspec:\n  containers: [\n' }, { input: 'object', line: 4 }],
    [{ object: '{"kind": "Pod",\n "spec": }' }, { input: 'object', line: 2 }],
    [{ object: '' }, { input: 'object', line: null }],
    [{ object: '- a\n- b\n' }, { input: 'object', line: null }],
    [{ object: 'kind: Pod\n---\nkind: Pod\n' }, { input: 'object', line: null }],
    [{ settings: 'sidecars: [\n' }, { input: 'settings', line: 2 }],
    [{ settings: 'a: 1\n---\nb: 2\n' }, { input: 'settings', line: null }],
    [{ cluster: 'items:\n\t- x\n' }, { input: 'cluster', line: 2 }],
    [{ operation: 'DELETE' }, { input: 'operation', line: null }],
    [{ operation: 'UPDATE', oldObject: '' }, { input: 'oldObject', line: null }],
    [{ object: 'metadata: {name: web}\n' }, { input: 'object', line: null }],
  ];
  for (const [change, expected] of cases) {
    const evaluation = evaluate({ ...base, ...change });
    assert.equal(evaluation.inputErrors.length, 1, JSON.stringify(change));
    const [error] = evaluation.inputErrors;
    assert.deepEqual({ input: error.input, line: error.line }, expected, JSON.stringify(error));
    assert.ok(error.message.length > 0);
    assert.equal(evaluation.verdict, null, 'nothing is evaluated with broken input');
  }
});

test('settings the module refuses are refused here, naming the field', () => {
  const evaluation = evaluate({ ...example('inject-volumes'), settings: 'sidecars:\n  - name: x\n    container: {name: x}\n' });
  assert.equal(evaluation.settings.valid, false);
  assert.match(evaluation.settings.message, /sidecars\[0\]\.container\.image/);
  assert.equal(evaluation.verdict, null);
});

test('a kind the policy is not registered for is evaluated, with a note saying Kubewarden would not send it', () => {
  const object = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n';
  const evaluation = evaluate({ object });
  assert.equal(evaluation.verdict.accepted, true);
  assert.equal(evaluation.notes.length, 1);
  assert.match(evaluation.notes[0],
    /^Kubewarden would not send this policy a request to CREATE a Deployment: .* pods on CREATE; jobs on CREATE; cronjobs on CREATE, UPDATE\./);
  assert.deepEqual(evaluate(example('inject-volumes')).notes, []);
  // Nor the UPDATE of a Pod: its containers cannot change.
  const podUpdate = evaluate({ ...example('inject-volumes'), operation: 'UPDATE', oldObject: example('inject-volumes').object });
  assert.match(podUpdate.notes[0] ?? '', /^Kubewarden would not send this policy a request to UPDATE a Pod/);
});

test('hostile YAML is refused quickly, with the parser\'s reason', { timeout: 10000 }, () => {
  const level = (name, below) => `${name}: &${name} [${Array(9).fill(`*${below}`).join(',')}]\n`;
  const laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    + [...'bcdefghi'].map((name, i) => level(name, 'abcdefgh'[i])).join('');
  assert.match(evaluate({ object: laughs }).inputErrors[0].message, /repetition limit exceeded/);
  assert.match(evaluate({ object: '['.repeat(100000) }).inputErrors[0].message, /recursion limit exceeded/);
  assert.match(evaluate({ settings: `sidecars:\n  ${'['.repeat(100000)}` }).inputErrors[0].message,
    /recursion limit exceeded/);
});

test('readiness: the example is blocked by its Job, with the strategy that fits the old pool', () => {
  const { readinessSettings, ...rest } = readinessExample;
  const answer = readiness({ ...rest, settings: readinessSettings });
  assert.deepEqual(answer.inputErrors, []);
  assert.equal(answer.blocked, true);
  assert.equal(answer.report.strategy, 'nodeVersion');
  assert.match(answer.text, /^readiness: BLOCKED \(1 blocker\(s\)\)/);
  assert.deepEqual(answer.report.workloads.map((w) => w.outcome), ['refused']);
});

test('readiness: an input that cannot be read is named, and settings the policy refuses too', () => {
  const broken = readiness({ nodes: 'items: [\n', settings: 'jobSidecars: {action: explode}' });
  assert.deepEqual(broken.inputErrors.map((e) => e.input).sort(), ['nodes', 'settings']);
  assert.equal(readiness({}).text.split('\n')[0], 'readiness: READY; nativeSupport.strategy universal fits');
});
