/**
 * Prints each function's package size (zipped) and the size of its bundled `.mjs` (unzipped), in
 * bytes, from what `npm run package` wrote to `.serverless/`, and fails when a package is over
 * budget. Then loads each bundle in fresh `node` processes beside a bare `node -e 1`, both in
 * Lambda's environment (`LAMBDA_ENVIRONMENT` of module-load.ts), and prints the medians: figures,
 * not a check, since other work on the machine moves them.
 *
 *   npx tsx scripts/bundle-size.ts                 # budget: 240 KB zipped per function
 *   npx tsx scripts/bundle-size.ts --budget-kb 250 --runs 9
 *   npx tsx scripts/bundle-size.ts --no-load-time
 *
 * Reads the zip itself (central directory, then inflates the `.mjs`): no dependencies.
 */

import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import { measureModuleLoad } from './module-load.ts';

const SERVERLESS_DIR = '.serverless';
const DEFAULT_BUDGET_KB = 240;
const DEFAULT_RUNS = 5;

interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  /** 0 stored, 8 deflated. */
  method: number;
  localHeaderOffset: number;
}

class BundleSizeError extends Error {
  override name = 'BundleSizeError';
}

/** Entries of a zip file, from its central directory (no Zip64: Lambda packages are far smaller). */
function zipEntries(zip: Buffer): ZipEntry[] {
  const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
  const CENTRAL_DIRECTORY_ENTRY = 0x02014b50;
  let end = -1;
  for (let offset = zip.length - 22; offset >= Math.max(0, zip.length - 22 - 0xffff); offset--) {
    if (zip.readUInt32LE(offset) === END_OF_CENTRAL_DIRECTORY) {
      end = offset;
      break;
    }
  }
  if (end < 0) throw new BundleSizeError('not a zip file: no end of central directory record');
  const count = zip.readUInt16LE(end + 10);
  let offset = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (zip.readUInt32LE(offset) !== CENTRAL_DIRECTORY_ENTRY) {
      throw new BundleSizeError(`corrupt zip: bad central directory entry ${i}`);
    }
    const method = zip.readUInt16LE(offset + 10);
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const localHeaderOffset = zip.readUInt32LE(offset + 42);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    entries.push({ name, compressedSize, size, method, localHeaderOffset });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** The bytes of one entry, inflated. */
function zipEntryContents(zip: Buffer, entry: ZipEntry): Buffer {
  const LOCAL_FILE_HEADER = 0x04034b50;
  const offset = entry.localHeaderOffset;
  if (zip.readUInt32LE(offset) !== LOCAL_FILE_HEADER) {
    throw new BundleSizeError(`corrupt zip: bad local header for ${entry.name}`);
  }
  const start = offset + 30 + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28);
  const data = zip.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method === 8) return inflateRawSync(data);
  throw new BundleSizeError(
    `${entry.name} uses zip method ${entry.method}: only stored and deflated are read.`,
  );
}

function numberOption(argv: readonly string[], flag: string, fallback: number, unit: string): number {
  const index = argv.indexOf(flag);
  if (index < 0) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    throw new BundleSizeError(
      `${flag} ${JSON.stringify(argv[index + 1])} is not valid: use a number of ${unit} above 0.`,
    );
  }
  return value;
}

/** Function name → artifact path, as osls recorded them when packaging. */
function artifacts(): Map<string, string> {
  const statePath = join(SERVERLESS_DIR, 'serverless-state.json');
  if (!existsSync(statePath)) {
    throw new BundleSizeError(`${statePath} not found: run \`npm run package\` first.`);
  }
  const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
    service: { functions: Record<string, { package?: { artifact?: string } }> };
  };
  const found = new Map<string, string>();
  for (const [name, definition] of Object.entries(state.service.functions)) {
    const artifact = definition.package?.artifact;
    if (!artifact)
      throw new BundleSizeError(`function ${name} has no artifact: is "package.individually" on?`);
    found.set(name, artifact);
  }
  return found;
}

const kilobytes = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

function main(): void {
  const argv = process.argv.slice(2);
  const budgetKb = numberOption(argv, '--budget-kb', DEFAULT_BUDGET_KB, 'KB');
  const runs = Math.round(numberOption(argv, '--runs', DEFAULT_RUNS, 'runs'));
  const budgetBytes = budgetKb * 1024;
  const over: string[] = [];
  const bundles = new Map<string, Buffer>();
  console.log(
    `function          zipped bytes   .mjs bytes   (budget ${budgetKb} KB = ${budgetBytes} bytes zipped)`,
  );
  for (const [name, artifact] of artifacts()) {
    if (!existsSync(artifact))
      throw new BundleSizeError(`${artifact} not found: run \`npm run package\` again.`);
    const zip = readFileSync(artifact);
    const zipped = statSync(artifact).size;
    const modules = zipEntries(zip).filter((entry) => entry.name.endsWith('.mjs'));
    if (modules.length !== 1) {
      throw new BundleSizeError(`${artifact} holds ${modules.length} .mjs bundles: expected one.`);
    }
    const module = modules[0]!;
    bundles.set(name, zipEntryContents(zip, module));
    console.log(
      `${name.padEnd(16)}  ${String(zipped).padStart(12)}   ${String(module.size).padStart(10)}   ${kilobytes(zipped)} zipped`,
    );
    if (zipped > budgetBytes) over.push(`${name} is ${kilobytes(zipped)} zipped (${artifact})`);
  }
  if (over.length > 0) {
    throw new BundleSizeError(
      `over the ${budgetKb} KB budget: ${over.join('; ')}. Find what grew with esbuild's metafile ` +
        '(`esbuild --metafile`, then https://esbuild.github.io/analyze/) before raising the budget.',
    );
  }
  if (argv.includes('--no-load-time')) return;
  const directory = mkdtempSync(join(tmpdir(), 'handoff-bundles-'));
  try {
    console.log(`\nmodule load, median of ${runs} fresh processes: wall clock (spawn to exit) | CPU time`);
    console.log(
      'function          load ms   bare node ms   above bare ms |  load CPU ms   bare CPU ms   above bare',
    );
    for (const [name, bundle] of bundles) {
      const modulePath = join(directory, `${name}.mjs`);
      writeFileSync(modulePath, bundle);
      const load = measureModuleLoad(modulePath, { runs });
      console.log(
        `${name.padEnd(16)}  ${String(load.moduleMs).padStart(7)}   ${String(load.bareMs).padStart(12)}   ${String(load.overBareMs).padStart(13)} | ${String(load.moduleCpuMs).padStart(12)}   ${String(load.bareCpuMs).padStart(11)}   ${String(load.overBareCpuMs).padStart(10)}`,
      );
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
try {
  main();
} catch (error) {
  if (!(error instanceof BundleSizeError)) throw error;
  console.error(`bundle-size: ${error.message}`);
  process.exitCode = 1;
}
