// Reads a JSON array of cases ({operation, object, oldObject, settings,
// cluster}: texts) on stdin and prints the playground's evaluation of each, as
// a JSON array: tests/it/playground.rs compares them with the waPC module's.
import { readFileSync } from 'node:fs';
import { evaluate } from './policy.mjs';

const cases = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(evaluate)));
