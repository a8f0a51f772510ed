#!/usr/bin/env node
// The `handoff` command. Runs the TypeScript sources through tsx, from any working directory.
import { register } from 'tsx/esm/api';

// The pinned SDK supports Node 20 (the Lambda runtime is Node 22); its notice about releases after
// January 2027 is not for the users of this command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
process.exitCode = code;
