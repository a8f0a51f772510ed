/** Splitting requests to fit AWS's per-call limits, and bounding how many run at once (the core's pool). */

export { mapConcurrently } from '../core/concurrency.ts';

/** `items` in consecutive slices of at most `size`. */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size <= 0)
    throw new RangeError(`batch size must be a positive integer, got ${size}`);
  const batches: T[][] = [];
  for (let start = 0; start < items.length; start += size) batches.push(items.slice(start, start + size));
  return batches;
}
