/**
 * The display protocol shared by the engine, the plot builders and the kernel.
 *
 * Any value with a `[JUPYTER_DISPLAY]()` method renders itself: the method returns a MIME bundle
 * (for example `{'text/plain': …, 'text/html': …}`). The symbol is `Symbol.for("Jupyter.display")`,
 * the same one Deno's kernel uses, so objects written for Deno display in relulab too.
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for('Jupyter.display') as never;

/** A MIME bundle: MIME type to data. JSON types (`application/*+json`) hold objects, the rest strings. */
export type MimeBundle = Record<string, unknown>;

export interface Displayable {
  [JUPYTER_DISPLAY](): MimeBundle;
}

export function isDisplayable(value: unknown): value is Displayable {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as Partial<Displayable>)[JUPYTER_DISPLAY] === 'function'
  );
}

/** Options of a display call: `displayId` names an output that `update: true` later replaces. */
export interface DisplayOptions {
  displayId?: string;
  update?: boolean;
  metadata?: Record<string, unknown>;
}

export type DisplayFn = (value: unknown, options?: DisplayOptions) => void;

let displayHook: DisplayFn | null = null;

/** The kernel registers its `display` here, so code in src/ (live charts) can show output without tslab. */
export function setDisplayHook(fn: DisplayFn | null): void {
  displayHook = fn;
}

/** The registered display function, or null outside a kernel. */
export function currentDisplay(): DisplayFn | null {
  return displayHook;
}
