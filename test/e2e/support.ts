import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the working directory of every `handoff` run, as for a user in a checkout. */
export const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** What a finished `handoff` process left behind. */
export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Settings of whoever runs the tests, or of the test runner, that must not reach `handoff`. */
const NOT_INHERITED = ['AWS_', 'HANDOFF_', 'POWERTOOLS_'];

/**
 * The environment a user's shell would give `handoff`: this process's, without AWS, spot-handoff
 * and Powertools settings (a profile or endpoint of the person running the tests must not decide
 * where a test's calls go; the runner's silenced logs must not hide a log line that would spoil
 * `--json`), plus what the case needs. `undefined` removes a variable.
 */
export function userEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!NOT_INHERITED.some((prefix) => key.startsWith(prefix))) env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/**
 * Runs `node bin/handoff.js …args` from the repository root and waits for it to exit, however long
 * a loaded machine makes that (the test runner's own limit is far above need). Fails, rather than
 * returning a made-up exit code, if the process could not run or was killed.
 */
export function handoff(args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      ['bin/handoff.js', ...args],
      { cwd: REPO, env: options.env ?? userEnv(), maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          fail(
            new Error(`handoff ${args.join(' ')}: ${error.message}\nstdout: ${stdout}\nstderr: ${stderr}`),
          );
          return;
        }
        done({ code: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

/** stdout parsed as one JSON document (throws, with the text, if it is anything else). */
export function jsonOf<T>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch (error) {
    throw new Error(`stdout is not one JSON document: ${(error as Error).message}\n${run.stdout}`);
  }
}

/** A scratch directory for event files; `remove` deletes it. */
export async function scratchDir(): Promise<{ path: (name: string) => string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'handoff-e2e-'));
  return {
    path: (name) => join(dir, name),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Writes `value` as JSON to `path`. */
export async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFile(path, JSON.stringify(value, null, 2));
}
