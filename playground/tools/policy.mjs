// The playground's module (the wasm-bindgen build in ../pkg) loaded in Node:
// the very files the page loads, for the tests.
import { existsSync, readFileSync } from 'node:fs';

const glue = new URL('../pkg/native_sidecar_policy.js', import.meta.url);
const wasm = new URL('../pkg/native_sidecar_policy_bg.wasm', import.meta.url);
if (!existsSync(glue) || !existsSync(wasm)) {
  throw new Error(`${glue.pathname}: not built; build the playground first (make playground-build)`);
}
const policy = await import(glue);
policy.initSync({ module: readFileSync(wasm) });

/** Evaluates pasted texts as the page does; returns the parsed evaluation. */
export function evaluate({ operation = 'CREATE', object = '', oldObject = '', settings = '', cluster = '' }) {
  return JSON.parse(policy.evaluate(operation, object, oldObject, settings, cluster));
}

/** The readiness report from pasted texts, as the page's readiness view asks for it. */
export function readiness(texts) {
  return JSON.parse(policy.readiness(JSON.stringify(texts)));
}

export const version = policy.version();
