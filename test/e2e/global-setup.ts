import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { REPO } from './support.ts';

/**
 * Before any test: `handoff help` once, which builds dist/cli/ if a source changed since the last
 * build, so the end-to-end runs that follow, many at once, find it built.
 */
export default async function buildHandoff(): Promise<void> {
  await promisify(execFile)(process.execPath, ['bin/handoff.js', 'help'], { cwd: REPO });
}
