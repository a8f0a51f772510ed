/**
 * Module load time of a bundled handler: each run starts a fresh `node` that loads the module
 * and exits, beside a bare `node -e 1` started in the same way, alternating so both see the same
 * machine load. Wall-clock milliseconds from spawn to exit; medians over the runs.
 *
 * @example
 * const load = measureModuleLoad('/tmp/handler.mjs', { runs: 5 });
 * console.log(`${load.moduleMs} ms vs ${load.bareMs} ms bare: +${load.overBareMs} ms`);
 */

import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface ModuleLoad {
  /** Median wall-clock ms of `node <module>`. */
  moduleMs: number;
  /** Median wall-clock ms of `node -e 1`. */
  bareMs: number;
  /** `moduleMs - bareMs`. */
  overBareMs: number;
  runs: number;
}

export interface MeasureOptions {
  /** Runs of each kind; default 5. */
  runs?: number;
}

export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
}

function timedNode(args: readonly string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (result.status !== 0) {
    throw new ModuleLoadError(
      `node ${args.join(' ')} exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`,
    );
  }
  return elapsed;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** Loads `modulePath` (an ES module file) in `runs` fresh processes, alternating with bare node. */
export function measureModuleLoad(modulePath: string, options: MeasureOptions = {}): ModuleLoad {
  const runs = options.runs ?? 5;
  if (!Number.isInteger(runs) || runs < 1) {
    throw new ModuleLoadError(`runs ${runs} is not valid: use a whole number of 1 or more.`);
  }
  const bare: number[] = [];
  const loaded: number[] = [];
  timedNode([modulePath]); // warms the file cache so the first run is not an outlier
  for (let run = 0; run < runs; run++) {
    bare.push(timedNode(['-e', '1']));
    loaded.push(timedNode([modulePath]));
  }
  const moduleMs = Math.round(median(loaded));
  const bareMs = Math.round(median(bare));
  return { moduleMs, bareMs, overBareMs: moduleMs - bareMs, runs };
}
