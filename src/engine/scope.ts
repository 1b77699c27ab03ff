/**
 * Memory scopes: inside `tidy()`, large float32 arrays come from the tensor heap (wasm/heap.ts) and are
 * given back when the scope ends, unless they were kept. The scope stack lives here; tidy() itself, which
 * decides what is kept, is in tensor.ts.
 */
import { freeBlock, heapFloat32, collectWith, uncollect, type Block } from './wasm/heap';

/**
 * Float32 arrays of at least this many elements come from the heap inside a scope; smaller ones come from
 * slabs (dtype.ts). A block the last step freed is handed out again while still in cache, where a fresh
 * array costs microseconds to make and its first writes miss the cache; and the kernels read and write
 * heap arrays in place.
 */
export const HEAP_MIN_ELEMENTS = 1024;

/** One tidy() call: the blocks it allocated that are still its own, with their arrays. */
export class Scope {
  ended = false;
  readonly blocks = new Map<Block, Float32Array>();
  /** Tensors over this scope's blocks, to find the leaves that require gradients (parameters) at the end. */
  readonly tensors: object[] = [];
  constructor(readonly parent: Scope | null) {}
}

let current: Scope | null = null;

export function currentScope(): Scope | null {
  return current;
}

/** Whether a float32 array of `size` made now comes from the heap (unless it is full). */
export function fromHeap(size: number): boolean {
  return current !== null && size >= HEAP_MIN_ELEMENTS;
}

/** A float32 array for a tensor: from the heap inside a scope, an ordinary array otherwise. */
export function scopedFloat32(size: number, zero: boolean): Float32Array | null {
  if (current === null || !fromHeap(size)) return null;
  const made = heapFloat32(size, zero);
  if (made === null) return null;
  current.blocks.set(made[1], made[0]);
  made[1].scope = current;
  return made[0];
}

export function enterScope(): Scope {
  current = new Scope(current);
  return current;
}

/**
 * Ends `scope` (the innermost): `promoted` blocks move to the enclosing scope, or to the garbage collector
 * at the outermost level; every other block the scope still owns is freed.
 */
export function exitScope(scope: Scope, promoted: ReadonlySet<Block>): void {
  scope.ended = true;
  current = scope.parent;
  for (const [block, array] of scope.blocks) {
    if (!promoted.has(block)) {
      freeBlock(block);
    } else if (scope.parent !== null) {
      scope.parent.blocks.set(block, array);
      block.scope = scope.parent;
    } else {
      block.scope = null;
      collectWith(array, block);
    }
  }
  scope.blocks.clear();
}

/** Takes `block` out of whichever scope owns it and leaves it to the garbage collector (keep()). */
export function escape(block: Block): void {
  const owner = block.scope;
  if (owner === null) return;
  const array = owner.blocks.get(block)!;
  owner.blocks.delete(block);
  block.scope = null;
  collectWith(array, block);
}

/** Frees `block` now, whoever holds it (dispose()). */
export function release(block: Block): void {
  const owner = block.scope;
  if (owner !== null) {
    owner.blocks.delete(block);
    block.scope = null;
  } else {
    uncollect(block);
  }
  freeBlock(block);
}
