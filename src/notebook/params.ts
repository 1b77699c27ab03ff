/**
 * Papermill-compatible parameters: values go into an `injected-parameters` cell placed after the cell
 * tagged `parameters` (at the top if there is none), as TypeScript `const` bindings of JSON literals, and
 * are recorded in the notebook's metadata (`metadata.papermill.parameters`).
 */
import fs from 'node:fs';
import yaml from 'js-yaml';
import { tagsOf, type Notebook } from './nbformat';

export type Parameters = Record<string, unknown>;

export class ParameterError extends Error {
  readonly code = 'RELULAB_PARAMETERS';
}

/** `-p name value`: numbers, booleans and null as such (as papermill), anything else as a string. */
export function parseValue(raw: string): unknown {
  if (raw === 'true' || raw === 'True') return true;
  if (raw === 'false' || raw === 'False') return false;
  if (raw === 'null' || raw === 'None') return null;
  if (raw.trim() !== '' && Number.isFinite(Number(raw))) return Number(raw);
  return raw;
}

/** Parameters from a .json, .yaml or .yml file. */
export function readParameterFile(file: string): Parameters {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ParameterError(`cannot read the parameter file ${file}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = file.endsWith('.json') ? JSON.parse(text) : yaml.load(text);
  } catch (e) {
    throw new ParameterError(`${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ParameterError(`${file} must hold a mapping of parameter names to values`);
  return value as Parameters;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** The TypeScript source of the injected cell. */
export function parameterSource(params: Parameters): string {
  const lines = Object.entries(params).map(([name, value]) => {
    if (!IDENTIFIER.test(name)) throw new ParameterError(`parameter name ${JSON.stringify(name)} is not a valid identifier`);
    return `const ${name} = ${JSON.stringify(value)};`;
  });
  return ['// Parameters', ...lines].join('\n');
}

/** Returns a copy of the notebook with the parameters injected. */
export function injectParameters(nb: Notebook, params: Parameters): Notebook {
  const cells = nb.cells.filter((c) => !tagsOf(c).includes('injected-parameters'));
  const at = cells.findIndex((c) => tagsOf(c).includes('parameters'));
  const injected = { cell_type: 'code' as const, execution_count: null, metadata: { tags: ['injected-parameters'] }, outputs: [], source: parameterSource(params) };
  cells.splice(at + 1, 0, injected);
  const papermill = { ...((nb.metadata.papermill as Record<string, unknown>) ?? {}), parameters: params };
  return { ...nb, cells, metadata: { ...nb.metadata, papermill: papermill as Notebook['metadata'][string] } };
}
