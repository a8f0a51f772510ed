#!/usr/bin/env node
// The `handoff` command, from any working directory. Runs the build in dist/cli/ (made at install
// by scripts/build-cli.mjs); builds it first when it is missing or a source is newer.
import { pathToFileURL } from 'node:url';
import { buildCli, builtEntry } from '../scripts/build-cli.mjs';

// The pinned SDK supports Node 20 (the Lambda runtime is Node 22); its notice about releases after
// January 2027 is not for the users of this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};
let entry = builtEntry();
if (!entry) {
  try {
    entry = await buildCli();
  } catch (error) {
    io.err(`handoff: ${error.message}`);
    process.exit(1);
  }
}
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2), io);
