// The page: reads the inputs, hands them to the policy's WebAssembly build
// (`evaluate`, in Rust), and displays what it answers. No decision is made here.
import init, { evaluate, version } from './pkg/native_sidecar_policy.js';
import { examples } from './examples.js';

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

try {
  await init();
  $('version').textContent = version();
  status.textContent = 'Ready: pick an example or paste your own, then Evaluate.';
  $('evaluate').disabled = false;
  $('example').disabled = false;
  document.body.dataset.ready = 'true';
} catch (error) {
  status.textContent = `Could not load the policy module: ${error}. Build it with \`make playground\`.`;
  status.classList.add('failed');
}
