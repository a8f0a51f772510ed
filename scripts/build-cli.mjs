/**
 * Builds the `handoff` command: src/cli/main.ts and the sources it loads, bundled by esbuild into
 * dist/cli/ as ES modules split per command (so `handoff help` loads only main.ts), with packages
 * left in node_modules (the SDK, dynalite, Powertools). npm runs this at install (`prepare`);
 * bin/handoff.js runs it when a source is newer than the build (importing this module is cheap:
 * esbuild is loaded only to build).
 *
 *   node scripts/build-cli.mjs
 *
 * Plain JavaScript, since it runs before anything can compile TypeScript. Safe to run concurrently:
 * every output is named by its content hash and renamed into place, the manifest last.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const OUT_DIR = join(ROOT, 'dist', 'cli');
/** `{ entry, builtAt, inputs }`: the module bin/handoff.js loads, and the files it is built from. */
const MANIFEST = join(OUT_DIR, 'build.json');
/** Files of an earlier build are removed once this old: a command started on it has long loaded them. */
const KEEP_EARLIER_BUILD_MS = 10 * 60_000;

export class CliBuildError extends Error {
  name = 'CliBuildError';
}

/** The path of the build's entry module, if it exists and no file it was built from changed since. */
export function builtEntry() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return undefined;
  }
  for (const input of manifest.inputs) {
    const changed = statSync(join(ROOT, input), { throwIfNoEntry: false })?.mtimeMs;
    if (changed === undefined || changed > manifest.builtAt) return undefined;
  }
  return join(OUT_DIR, manifest.entry);
}

/** Builds dist/cli/ and returns the path of its entry module. */
export async function buildCli() {
  const builtAt = Date.now();
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch (error) {
    throw new CliBuildError(
      `the handoff command is not built and esbuild is not installed: run "npm install" in ${ROOT}.`,
      { cause: error },
    );
  }
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { handoff: 'src/cli/main.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    outdir: OUT_DIR,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunk-[hash]',
    outExtension: { '.js': '.mjs' },
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  await mkdir(OUT_DIR, { recursive: true });
  const written = new Set();
  for (const file of result.outputFiles) {
    written.add(basename(file.path));
    if (!existsSync(file.path)) await writeAtomically(file.path, file.contents);
  }
  // Dynamically imported modules are entry points of their own chunks: pick main.ts's.
  const entry = Object.entries(result.metafile.outputs).find(
    ([, output]) => output.entryPoint === 'src/cli/main.ts',
  )?.[0];
  if (!entry) throw new CliBuildError('esbuild produced no entry module for src/cli/main.ts.');
  const inputs = [
    ...Object.keys(result.metafile.inputs),
    relative(ROOT, fileURLToPath(import.meta.url)),
    'tsconfig.json',
  ];
  const manifest = { entry: basename(entry), builtAt, inputs };
  await writeAtomically(MANIFEST, JSON.stringify(manifest, null, 2));
  written.add(basename(MANIFEST));
  await removeEarlierBuilds(written);
  return join(OUT_DIR, manifest.entry);
}

async function writeAtomically(path, contents) {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, path);
}

async function removeEarlierBuilds(current) {
  const now = Date.now();
  for (const name of await readdir(OUT_DIR)) {
    if (current.has(name)) continue;
    const path = join(OUT_DIR, name);
    const { mtimeMs } = await stat(path).catch(() => ({ mtimeMs: now }));
    if (now - mtimeMs > KEEP_EARLIER_BUILD_MS) await rm(path, { force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const entry = await buildCli();
    console.log(`handoff built: ${relative(ROOT, entry)}`);
  } catch (error) {
    console.error(`build-cli: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  }
}
