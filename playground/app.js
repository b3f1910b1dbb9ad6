// The page: reads the inputs, hands them to the policy's WebAssembly build
// (`evaluate`, in Rust), and displays what it answers. No decision is made here.
import init, { evaluate, readiness, version } from './pkg/native_sidecar_policy.js';
import { examples, readinessExample } from './examples.js';

const inputs = ['object', 'oldObject', 'settings', 'cluster'];
const $ = (id) => document.getElementById(id);
const status = $('status');

function showOperation() {
  $('oldObject-field').hidden = $('operation').value !== 'UPDATE';
}

function loadExample(id) {
  const example = examples.find((e) => e.id === id);
  if (!example) return;
  $('operation').value = example.operation;
  for (const input of inputs) $(input).value = example[input] ?? '';
  showOperation();
}

function clearErrors() {
  for (const input of [...inputs, 'operation']) {
    $(`${input}-error`).hidden = true;
    $(`${input}-error`).replaceChildren();
    $(`${input}-field`)?.classList.remove('invalid');
  }
}

// An input error shown under its field, with the offending line and a caret.
function showError({ input, line, column, message }) {
  const box = $(`${input}-error`);
  const where = line ? `line ${line}${column ? `, column ${column}` : ''}: ` : '';
  box.append(`${where}${message}`);
  const text = $(input)?.value;
  if (line && text !== undefined) {
    const source = text.split('\n')[line - 1] ?? '';
    const excerpt = document.createElement('div');
    excerpt.className = 'excerpt';
    excerpt.textContent = `${String(line).padStart(4)} | ${source}\n       ${' '.repeat(Math.max(0, (column ?? 1) - 1))}^`;
    box.append(excerpt);
    selectLine($(input), line);
  }
  box.hidden = false;
  $(`${input}-field`)?.classList.add('invalid');
}

function selectLine(textarea, line) {
  const lines = textarea.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
  textarea.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
}

function setText(id, text) {
  $(id).textContent = text || '—';
}

function showVerdict(text, kind) {
  $('verdict').textContent = text;
  $('verdict').className = `verdict ${kind}`;
}

function showWarnings(warnings) {
  const items = (warnings?.length ? warnings : ['—']).map((warning) => {
    const item = document.createElement('li');
    item.textContent = warning;
    return item;
  });
  $('warnings').replaceChildren(...items);
}

function showPatched(patched) {
  if (!patched) return setText('patched', '');
  const changed = new Set(patched.changed);
  const lines = patched.text.replace(/\n$/, '').split('\n').map((text, index) => {
    const line = document.createElement('span');
    line.className = changed.has(index + 1) ? 'line changed' : 'line';
    line.textContent = text;
    return line;
  });
  $('patched').replaceChildren(...lines);
}

function render(evaluation) {
  clearErrors();
  evaluation.inputErrors.forEach(showError);
  const { settings, verdict, patch, patched } = evaluation;
  if (evaluation.inputErrors.length) {
    showVerdict('Not evaluated: fix the input marked in red.', 'refused');
  } else if (!settings.valid) {
    showError({ input: 'settings', message: settings.message });
    showVerdict('Settings refused: Kubewarden would not load the policy with them.', 'refused');
  } else if (!verdict.accepted) {
    showVerdict(`Rejected (code ${verdict.code})`, 'rejected');
  } else if (patch) {
    showVerdict('Accepted, mutated', 'mutated');
  } else {
    showVerdict('Accepted', 'accepted');
  }
  $('notes').textContent = evaluation.notes.join('\n');
  $('notes').hidden = !evaluation.notes.length;
  setText('message', verdict?.message ?? (settings && !settings.valid ? settings.message : ''));
  showWarnings(verdict?.warnings);
  setText('patch', patch ? JSON.stringify(patch, null, 2) : '');
  showPatched(patched);
}

function run(event) {
  event?.preventDefault();
  try {
    render(JSON.parse(evaluate($('operation').value, $('object').value, $('oldObject').value,
      $('settings').value, $('cluster').value)));
  } catch (error) {
    // A trap in the module: say so rather than leave a blank or stale page.
    showVerdict(`The policy module failed: ${error}`, 'refused');
    for (const id of ['message', 'patch', 'patched']) setText(id, '');
    showWarnings([]);
    $('notes').hidden = true;
  }
}

for (const example of examples) {
  $('example').append(new Option(example.title, example.id));
}
$('example').addEventListener('change', (event) => {
  loadExample(event.target.value);
  run();
});
$('operation').addEventListener('change', showOperation);
$('inputs').addEventListener('submit', run);

// The readiness report: the same Rust code as `native-sidecar-policy readiness`.
const readinessInputs = ['apiserverMetrics', 'nodeMetrics', 'nodes', 'version', 'webhooks', 'workloads', 'readinessSettings'];

function row(cells) {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const td = document.createElement('td');
    td.textContent = cell;
    tr.append(td);
  }
  return tr;
}

function runReadiness(event) {
  event?.preventDefault();
  const texts = Object.fromEntries(readinessInputs.map((id) => [id === 'readinessSettings' ? 'settings' : id, $(id).value]));
  const answer = JSON.parse(readiness(JSON.stringify(texts)));
  for (const id of readinessInputs) {
    $(`${id}-error`).hidden = true;
    $(`${id}-field`).classList.remove('invalid');
  }
  for (const error of answer.inputErrors) {
    const id = error.input === 'settings' ? 'readinessSettings' : error.input;
    const where = error.line ? `line ${error.line}: ` : '';
    $(`${id}-error`).textContent = `${where}${error.message}`;
    $(`${id}-error`).hidden = false;
    $(`${id}-field`).classList.add('invalid');
  }
  if (answer.inputErrors.length) {
    $('readiness-summary').textContent = 'Not checked: fix the input marked in red.';
    $('readiness-summary').className = 'verdict refused';
    return;
  }
  const { report } = answer;
  $('readiness-summary').textContent = answer.text.split('\n')[0];
  $('readiness-summary').className = `verdict ${answer.blocked ? 'rejected' : 'accepted'}`;
  const native = (value) => (value === true ? 'yes' : value === false ? 'NO' : 'unknown');
  $('readiness-nodes').tBodies[0].replaceChildren(...[report.apiServer, ...report.nodes]
    .map((c) => row([c.name, c.version ?? '?', native(c.native), c.why])));
  $('readiness-workloads').tBodies[0].replaceChildren(...report.workloads
    .map((w) => row([w.outcome, `${w.kind} ${w.namespace}/${w.name}`, w.detail.join('\n')])));
  $('readiness-report').textContent = answer.text;
}

$('readiness-inputs').addEventListener('submit', runReadiness);
$('readiness-example').addEventListener('click', () => {
  for (const id of readinessInputs) $(id).value = readinessExample[id] ?? '';
  runReadiness();
});

try {
  await init();
  $('version').textContent = version();
  status.textContent = 'Ready: pick an example or paste your own, then Evaluate.';
  $('evaluate').disabled = false;
  $('example').disabled = false;
  $('readiness-run').disabled = false;
  $('readiness-example').disabled = false;
  document.body.dataset.ready = 'true';
} catch (error) {
  status.textContent = `Could not load the policy module: ${error}. Build it with \`make playground\`.`;
  status.classList.add('failed');
}
