import fs from 'node:fs';
import { ValueError } from '../engine';
import { formatShape } from '../engine';
import { noGrad, Tensor, tensor } from '../engine';

/** A named state entry: parameters and buffers, as plain arrays so that it serialises to JSON. */
export interface StateEntry {
  shape: number[];
  dtype: Tensor['dtype'];
  values: number[];
}
export type StateDict = Record<string, StateEntry>;

/**
 * The base of every layer and model, as PyTorch's `nn.Module`. Subclasses set their parameters (tensors
 * with requiresGrad), buffers (other tensors, e.g. running statistics) and sub-modules as properties and
 * implement `forward`. Properties are discovered by walking the object, so no registration is needed.
 */
export abstract class Module {
  /** Training mode (dropout, batch norm, rrelu); `eval()` switches it off. */
  training = true;

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Runs `forward`; the same as calling `forward` directly. */
  call(...inputs: Tensor[]): Tensor {
    return this.forward(...inputs);
  }

  /** Direct sub-modules, by property name (arrays of modules are named `name.0`, `name.1`, …). */
  namedChildren(): [string, Module][] {
    const out: [string, Module][] = [];
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Module) out.push([key, value]);
      else if (Array.isArray(value)) value.forEach((v, i) => v instanceof Module && out.push([`${key}.${i}`, v]));
    }
    return out;
  }

  /** This module and every module below it, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  private namedTensors(parameters: boolean): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, module] of this.namedModules()) {
      for (const [key, value] of Object.entries(module)) {
        if (value instanceof Tensor && value.requiresGrad === parameters && (!parameters || value.isLeaf())) {
          out.push([prefix ? `${prefix}.${key}` : key, value]);
        }
      }
    }
    return out;
  }

  /** Every learnable tensor with its dotted name, e.g. `0.weight`. */
  namedParameters(): [string, Tensor][] {
    return this.namedTensors(true);
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** State that is saved but not learned, such as batch norm's running mean. */
  namedBuffers(): [string, Tensor][] {
    return this.namedTensors(false);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  stateDict(): StateDict {
    const out: StateDict = {};
    for (const [name, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
      out[name] = { shape: [...t.shape], dtype: t.dtype, values: Array.from(t.dataSync()) };
    }
    return out;
  }

  /** Copies values into this module's tensors; names and shapes must match exactly. */
  loadStateDict(state: StateDict): void {
    const own = new Map([...this.namedParameters(), ...this.namedBuffers()]);
    const missing = [...own.keys()].filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !own.has(k));
    if (missing.length || unexpected.length) {
      throw new ValueError('loadStateDict', `state does not fit the module: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
    }
    noGrad(() => {
      for (const [name, t] of own) {
        const entry = state[name];
        if (entry.values.length !== t.size || entry.shape.join() !== t.shape.join()) {
          throw new ValueError('loadStateDict', `${name}: saved shape ${formatShape(entry.shape)} does not match ${formatShape(t.shape)}`);
        }
        t.copy_(tensor(entry.values, { dtype: t.dtype, shape: entry.shape }));
      }
    });
  }

  /** Writes the state dict to a JSON file. */
  save(path: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ format: 'relulab-state-dict', version: 1, state: this.stateDict() }));
    fs.renameSync(tmp, path);
  }

  /** Loads a state dict written by `save` into this module. */
  load(path: string): this {
    const parsed = JSON.parse(fs.readFileSync(path, 'utf8'));
    if (parsed?.format !== 'relulab-state-dict') throw new ValueError('load', `${path} is not a relulab state dict`);
    this.loadStateDict(parsed.state);
    return this;
  }

  /** The line describing this module inside its parent's repr, e.g. `Linear(in=4, out=8)`. */
  protected describe(): string {
    return this.constructor.name;
  }

  toString(): string {
    const children = this.namedChildren();
    if (children.length === 0) return this.describe();
    const inner = children.map(([name, c]) => `  (${name}): ${c.toString().replace(/\n/g, '\n  ')}`).join('\n');
    return `${this.describe()}(\n${inner}\n)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/** Applies its layers in order. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }

  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, layer) => layer.call(h), x);
  }

  override namedChildren(): [string, Module][] {
    return this.layers.map((l, i) => [String(i), l]);
  }
}
