/**
 * What cells call to show rich output: `display(value | bundle, {displayId, update, metadata})` and
 * `clearOutput({wait})`. Output is routed to the cell that produced it: each execution runs inside an
 * AsyncLocalStorage context holding its request's header, which timers and promises started by the cell
 * inherit, so late output from a callback still lands in its own cell.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import util from 'node:util';
import { isDisplayable, JUPYTER_DISPLAY, type DisplayOptions as BaseDisplayOptions, type MimeBundle } from '../src/display';

export interface OutputContext {
  /** The header of the execute_request that produced this output. */
  parent: Record<string, unknown>;
}

export interface Publisher {
  publish(msgType: string, content: Record<string, unknown>, parent: Record<string, unknown>): void;
}

export const outputContext = new AsyncLocalStorage<OutputContext>();
let publisher: Publisher | null = null;
let fallback: OutputContext | null = null;

/** Connects display() to the kernel; `current` is used for output outside any cell (e.g. the prelude). */
export function attachPublisher(p: Publisher | null, current: OutputContext | null = null): void {
  publisher = p;
  fallback = current;
}

export function setFallbackContext(context: OutputContext | null): void {
  fallback = context;
}

function context(): OutputContext | null {
  return outputContext.getStore() ?? fallback;
}

/** Sends a message on iopub with the producing cell as its parent; a no-op outside a kernel. */
export function publish(msgType: string, content: Record<string, unknown>): void {
  const ctx = context();
  if (publisher !== null && ctx !== null) publisher.publish(msgType, content, ctx.parent);
}

/** The MIME bundle of any value: its own `[Symbol.for('Jupyter.display')]()`, or util.inspect text. */
export function bundleOf(value: unknown): MimeBundle {
  if (isDisplayable(value)) return value[JUPYTER_DISPLAY]();
  return { 'text/plain': typeof value === 'string' ? value : util.inspect(value, { colors: false, depth: 4 }) };
}

function looksLikeBundle(value: unknown): value is MimeBundle {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !isDisplayable(value) &&
    Object.keys(value).length > 0 && Object.keys(value).every((k) => /^[a-z]+\/[\w.+-]+$/.test(k))
  );
}

export interface DisplayOptions extends BaseDisplayOptions {
  /** Treat the value as a MIME bundle even if it could be displayed otherwise. */
  raw?: boolean;
}

let counter = 0;

/**
 * Shows a value (a Tensor, a plot figure, anything displayable or a plain value) or a MIME bundle such as
 * `{'text/html': '<b>hi</b>'}` as a `display_data` output. With `displayId` the output can be replaced
 * later by `display(next, {displayId, update: true})`.
 */
export function display(value: unknown, options: DisplayOptions = {}): void {
  const displayId = options.displayId ?? `relulab-${process.pid}-${++counter}`;
  const data = options.raw || looksLikeBundle(value) ? (value as MimeBundle) : bundleOf(value);
  publish(options.update ? 'update_display_data' : 'display_data', { data, metadata: options.metadata ?? {}, transient: { display_id: displayId } });
}

/** Clears the cell's output, now or (with `wait`) just before the next output arrives. */
export function clearOutput({ wait = false }: { wait?: boolean } = {}): void {
  publish('clear_output', { wait });
}

/** The names the prelude imports from this module. */
export const HELPERS = ['display', 'clearOutput'] as const;
