/**
 * Module load time of a bundled handler: each run starts a fresh `node` that imports the module
 * and exits, beside a bare `node -e` started in the same way, alternating so both see the same
 * machine load. Wall-clock milliseconds from spawn to exit, and the process's own CPU time (user +
 * system, which moves less than wall clock when other work shares the machine); medians over the
 * runs.
 *
 * @example
 * const load = measureModuleLoad('/tmp/handler.mjs', { runs: 5 });
 * console.log(`${load.moduleMs} ms vs ${load.bareMs} ms bare: +${load.overBareMs} ms`);
 */

import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

export interface ModuleLoad {
  /** Median wall-clock ms of `node <module>`. */
  moduleMs: number;
  /** Median wall-clock ms of `node -e 1`. */
  bareMs: number;
  /** `moduleMs - bareMs`. */
  overBareMs: number;
  /** Median CPU ms (user + system) of the process that loads the module. */
  moduleCpuMs: number;
  /** Median CPU ms of a bare node process. */
  bareCpuMs: number;
  /** `moduleCpuMs - bareCpuMs`. */
  overBareCpuMs: number;
  runs: number;
}

export interface MeasureOptions {
  /** Runs of each kind; default 5. */
  runs?: number;
}

export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
}

/** Printed by each process as it exits: its own CPU time in microseconds. */
const PRINT_CPU = 'const u = process.cpuUsage(); console.log(u.user + u.system)';

function timedNode(args: readonly string[]): { wallMs: number; cpuMs: number } {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  const elapsed = performance.now() - started;
  if (result.status !== 0) {
    throw new ModuleLoadError(
      `node ${args.join(' ')} exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`,
    );
  }
  const cpuMicros = Number(result.stdout.trim().split('\n').at(-1));
  return { wallMs: elapsed, cpuMs: cpuMicros / 1000 };
}

const bareNode = () => timedNode(['-e', PRINT_CPU]);
const loadModule = (modulePath: string) =>
  timedNode([
    '--input-type=module',
    '-e',
    `await import(${JSON.stringify(pathToFileURL(modulePath).href)}); ${PRINT_CPU}`,
  ]);

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
  const bare: { wallMs: number; cpuMs: number }[] = [];
  const loaded: { wallMs: number; cpuMs: number }[] = [];
  loadModule(modulePath); // warms the file cache so the first run is not an outlier
  for (let run = 0; run < runs; run++) {
    bare.push(bareNode());
    loaded.push(loadModule(modulePath));
  }
  const moduleMs = Math.round(median(loaded.map((run) => run.wallMs)));
  const bareMs = Math.round(median(bare.map((run) => run.wallMs)));
  const moduleCpuMs = Math.round(median(loaded.map((run) => run.cpuMs)));
  const bareCpuMs = Math.round(median(bare.map((run) => run.cpuMs)));
  return {
    moduleMs,
    bareMs,
    overBareMs: moduleMs - bareMs,
    moduleCpuMs,
    bareCpuMs,
    overBareCpuMs: moduleCpuMs - bareCpuMs,
    runs,
  };
}
