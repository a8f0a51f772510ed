/**
 * esbuild plugins for the functions' bundles: serverless-esbuild loads this file through the
 * `plugins` option of `custom.esbuild` in serverless.yml (its default export), and any other build
 * (tests, benchmarks) can import `slimSdkSchemas` from here.
 *
 * Plain JavaScript because serverless-esbuild `require`s it from the packaging process.
 */

import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * The SDK v3 clients keep the whole API model of a service in one module
 * (`dist-es/schemas/schemas_0.js`: for EC2, 1.3 MB of shapes for every operation). Its shapes are
 * arrays whose member traits are object literals with computed keys: `{ [_xN]: _rSes }`, where
 * `_xN` is a top-level `const _xN = "xmlName"`. esbuild treats a computed key as a possible side
 * effect, so it keeps every shape, used or not. Writing the key as the literal it stands for
 * (`{ "xmlName": _rSes }`) builds the same object and lets tree shaking drop every shape that no
 * imported command reaches: the used operations are whatever the bundle imports, derived by
 * esbuild itself. Nothing else in the module changes.
 */
export const SDK_SCHEMA_MODULE = /[\\/]@aws-sdk[\\/][^\\/]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;

/** `const _xN = "xmlName";` at the top level of a schema module. */
const STRING_CONSTANT = /^const (_\w+) = "([^"\\]*)";$/gm;
/** `[_xN]:` — a computed property key naming one identifier. */
const COMPUTED_KEY = /\[(_\w+)\]:/g;

/**
 * The schema module's source with every computed key that names one of its string constants
 * written as that string. Identifiers that are not such constants are left as they are.
 * @param {string} source
 * @returns {{ contents: string, keysRewritten: number }}
 */
export function literalSchemaKeys(source) {
  const constants = new Map();
  for (const [, name, value] of source.matchAll(STRING_CONSTANT)) constants.set(name, value);
  let keysRewritten = 0;
  const contents = source.replace(COMPUTED_KEY, (key, name) => {
    const value = constants.get(name);
    if (value === undefined) return key;
    keysRewritten++;
    return `${JSON.stringify(value)}:`;
  });
  return { contents, keysRewritten };
}

/**
 * The plugin that applies `literalSchemaKeys` to every AWS SDK client's schema module.
 * @returns {import('esbuild').Plugin}
 */
export function slimSdkSchemas() {
  return {
    name: 'slim-sdk-schemas',
    setup(build) {
      build.onLoad({ filter: SDK_SCHEMA_MODULE }, async ({ path }) => ({
        contents: literalSchemaKeys(await readFile(path, 'utf8')).contents,
        loader: 'js',
      }));
    },
  };
}

/** The SDK's default credential chain, which the functions' bundles replace. */
export const CREDENTIAL_CHAIN_MODULE = /^@aws-sdk\/credential-provider-node$/;

/**
 * The plugin that bundles `build/lambda-credentials.mjs` (environment credentials, as Lambda gives
 * them) wherever an SDK client imports its default credential chain: the chain's other providers
 * and the STS/SSO clients behind them leave the bundle.
 * @returns {import('esbuild').Plugin}
 */
export function lambdaCredentials() {
  return {
    name: 'lambda-credentials',
    setup(build) {
      build.onResolve({ filter: CREDENTIAL_CHAIN_MODULE }, () => ({
        path: fileURLToPath(new URL('./lambda-credentials.mjs', import.meta.url)),
      }));
    },
  };
}

/**
 * The plugin that bundles `build/semver-gte.mjs` (semver's `gte`, all the X-Ray SDK calls) for
 * `semver`, whose regular expressions are otherwise all built at cold start.
 * @returns {import('esbuild').Plugin}
 */
export function xraySemver() {
  return {
    name: 'xray-semver',
    setup(build) {
      build.onResolve({ filter: /^semver$/ }, () => ({
        path: fileURLToPath(new URL('./semver-gte.mjs', import.meta.url)),
      }));
    },
  };
}

/**
 * `package.json` files that bundled code imports whole for a field or two: each SDK client's (its
 * version, for the user agent) and the X-Ray SDK's (name and version, for its segments).
 */
export const PACKAGE_INFO_MODULE =
  /[\\/]node_modules[\\/](?:@aws-sdk[\\/]client-[^\\/]+|aws-xray-sdk-core)[\\/]package\.json$/;

/**
 * The plugin that bundles only `name` and `version` of the `package.json` files those packages
 * import (their dependency lists, scripts and export maps are never read).
 * @returns {import('esbuild').Plugin}
 */
export function packageVersions() {
  return {
    name: 'package-versions',
    setup(build) {
      build.onLoad({ filter: PACKAGE_INFO_MODULE }, async ({ path }) => {
        const { name, version } = JSON.parse(await readFile(path, 'utf8'));
        return { contents: JSON.stringify({ name, version }), loader: 'json' };
      });
    },
  };
}

export default [slimSdkSchemas(), lambdaCredentials(), xraySemver(), packageVersions()];
