// Reads the replacement policy (`param:policyFile`, default policy.yml), validates it with the
// same schema the functions use (src/core/policy.ts, bundled here by esbuild) and returns it for
// esbuild's `define`, so it is embedded in every bundle: a bad field fails `serverless package`,
// naming the field and what is allowed. No file: no groups.
'use strict';

const { existsSync, readFileSync } = require('node:fs');
const { join } = require('node:path');
const { buildSync } = require('esbuild');
const { parse } = require('yaml');

const ROOT = join(__dirname, '..');

/** src/core/policy.ts, bundled to CommonJS in memory. */
function policyModule() {
  const built = buildSync({
    entryPoints: [join(ROOT, 'src/core/policy.ts')],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    write: false,
    logLevel: 'silent',
  });
  const module = { exports: {} };
  new Function('module', 'exports', 'require', built.outputFiles[0].text)(module, module.exports, require);
  return module.exports;
}

/** The validated policy as JSON text, or undefined when the file does not exist. */
function policyJson(policyFile) {
  const path = join(ROOT, policyFile);
  if (!existsSync(path)) return undefined;
  let raw;
  try {
    raw = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`${policyFile} is not valid YAML: ${error.message}`);
  }
  const { parsePolicy, PolicyError } = policyModule();
  try {
    return JSON.stringify(parsePolicy(raw ?? { groups: {} }));
  } catch (error) {
    if (error instanceof PolicyError) throw new Error(`${policyFile}: ${error.message}`);
    throw error;
  }
}

/** An expression for esbuild's `define`: the policy's JSON text as a string literal, or `undefined`. */
function embedded(policyFile) {
  const json = policyJson(policyFile);
  return json === undefined ? 'undefined' : JSON.stringify(json);
}

module.exports = async ({ resolveVariable }) => embedded(await resolveVariable('param:policyFile'));
module.exports.policyJson = policyJson;
