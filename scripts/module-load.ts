/**
 * Module load time of a bundled handler: each run starts a fresh `node` that imports the module
 * and exits, beside a bare `node -e` started in the same way, alternating so both see the same
 * machine load. Wall-clock milliseconds from spawn to exit, and the process's own CPU time (user +
 * system, which moves less than wall clock when other work shares the machine); medians over the
 * runs. The module is loaded in Lambda's environment (`LAMBDA_ENVIRONMENT`: the variables Lambda
 * and serverless.yml set that change what loading does, such as the X-Ray tracing that Powertools
 * turns on only in Lambda), so the figure is the one a cold start pays.
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
  /** Variables of the loading process, over this process's; default: `LAMBDA_ENVIRONMENT` alone. */
  env?: Record<string, string>;
}

/**
 * What a function's process sees at cold start in Lambda, as far as loading a bundle is concerned:
 * the runtime's variables (Powertools' tracer and the X-Ray SDK start tracing only when they find
 * them), the function role's credentials (placeholders: loading reads nothing from them) and the
 * Powertools settings of serverless.yml.
 */
export const LAMBDA_ENVIRONMENT: Readonly<Record<string, string>> = {
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  AWS_LAMBDA_FUNCTION_NAME: 'spot-handoff-dev-interruption',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '256',
  AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'ASIAPLACEHOLDER',
  AWS_SECRET_ACCESS_KEY: 'placeholder',
  AWS_SESSION_TOKEN: 'placeholder',
  POWERTOOLS_SERVICE_NAME: 'spot-handoff',
  POWERTOOLS_METRICS_NAMESPACE: 'SpotHandoff',
  POWERTOOLS_LOG_LEVEL: 'INFO',
  AWS_MAX_ATTEMPTS: '5',
};

export class ModuleLoadError extends Error {
  override name = 'ModuleLoadError';
}

/** Printed by each process as it exits: its own CPU time in microseconds. */
const PRINT_CPU = 'const u = process.cpuUsage(); console.log(u.user + u.system)';

function timedNode(
  args: readonly string[],
  env: Record<string, string | undefined>,
): { wallMs: number; cpuMs: number } {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env,
  });
  const elapsed = performance.now() - started;
  if (result.status !== 0) {
    throw new ModuleLoadError(
      `node ${args.join(' ')} exited with ${result.status ?? result.signal}: ${result.stderr.trim()}`,
    );
  }
  const cpuMicros = Number(result.stdout.trim().split('\n').at(-1));
  return { wallMs: elapsed, cpuMs: cpuMicros / 1000 };
}

const bareNode = (env: Record<string, string | undefined>) => timedNode(['-e', PRINT_CPU], env);
const loadModule = (modulePath: string, env: Record<string, string | undefined>) =>
  timedNode(
    [
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(pathToFileURL(modulePath).href)}); ${PRINT_CPU}`,
    ],
    env,
  );

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
  // Lambda's environment alone (not this shell's AWS_PROFILE or POWERTOOLS_* settings), or the given one.
  const env = options.env
    ? { ...process.env, ...options.env }
    : { PATH: process.env['PATH'], ...LAMBDA_ENVIRONMENT };
  const bare: { wallMs: number; cpuMs: number }[] = [];
  const loaded: { wallMs: number; cpuMs: number }[] = [];
  loadModule(modulePath, env); // warms the file cache so the first run is not an outlier
  for (let run = 0; run < runs; run++) {
    bare.push(bareNode(env));
    loaded.push(loadModule(modulePath, env));
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
