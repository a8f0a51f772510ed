import type { Log, Metrics } from '../core/ports.ts';

/** The core's log for a command run in a terminal: warnings and errors as lines, the rest silent. */
export function consoleLog(print: (line: string) => void): Log {
  const log: Log = {
    debug: () => {},
    info: () => {},
    warn: (message) => print(`warning: ${message}`),
    error: (message) => print(`error: ${message}`),
    with: () => log,
  };
  return log;
}

/** A command run from a terminal publishes no metrics (the deployment's functions do). */
export const noMetrics: Metrics = { count: () => {}, seconds: () => {} };
