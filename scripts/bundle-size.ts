/**
 * Prints each function's package size (zipped) and the size of its bundled `.mjs` (unzipped),
 * from what `npm run package` wrote to `.serverless/`, and fails when a package is over budget.
 *
 *   npx tsx scripts/bundle-size.ts                 # budget: 5 MB zipped per function
 *   npx tsx scripts/bundle-size.ts --budget-mb 2
 *
 * Reads the zip's central directory itself: no dependencies.
 */

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SERVERLESS_DIR = '.serverless';
const DEFAULT_BUDGET_MB = 5;

interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
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
    const compressedSize = zip.readUInt32LE(offset + 20);
    const size = zip.readUInt32LE(offset + 24);
    const nameLength = zip.readUInt16LE(offset + 28);
    const extraLength = zip.readUInt16LE(offset + 30);
    const commentLength = zip.readUInt16LE(offset + 32);
    const name = zip.toString('utf8', offset + 46, offset + 46 + nameLength);
    entries.push({ name, compressedSize, size });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function budgetMb(argv: readonly string[]): number {
  const index = argv.indexOf('--budget-mb');
  if (index < 0) return DEFAULT_BUDGET_MB;
  const value = Number(argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    throw new BundleSizeError(
      `--budget-mb ${JSON.stringify(argv[index + 1])} is not valid: use a number of MB above 0.`,
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

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

function main(): void {
  const budget = budgetMb(process.argv.slice(2));
  const budgetBytes = budget * 1024 * 1024;
  const over: string[] = [];
  console.log(`function          zipped      .mjs unzipped   (budget ${budget} MB zipped)`);
  for (const [name, artifact] of artifacts()) {
    if (!existsSync(artifact))
      throw new BundleSizeError(`${artifact} not found: run \`npm run package\` again.`);
    const zipped = statSync(artifact).size;
    const modules = zipEntries(readFileSync(artifact)).filter((entry) => entry.name.endsWith('.mjs'));
    if (modules.length === 0) throw new BundleSizeError(`${artifact} holds no .mjs bundle.`);
    const unzipped = modules.reduce((sum, entry) => sum + entry.size, 0);
    console.log(`${name.padEnd(16)}  ${megabytes(zipped).padStart(9)}   ${megabytes(unzipped).padStart(9)}`);
    if (zipped > budgetBytes) over.push(`${name} is ${megabytes(zipped)} zipped (${artifact})`);
  }
  if (over.length > 0) {
    throw new BundleSizeError(`over the ${budget} MB budget: ${over.join('; ')}.`);
  }
}

try {
  main();
} catch (error) {
  if (!(error instanceof BundleSizeError)) throw error;
  console.error(`bundle-size: ${error.message}`);
  process.exitCode = 1;
}
