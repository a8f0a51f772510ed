import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packageVersions, xraySemver } from '../../build/esbuild-plugins.mjs';
import { gte } from '../../build/semver-gte.mjs';

/** The package the functions' bundles replace (a dependency of the X-Ray SDK). */
const semver = createRequire(import.meta.url)('semver') as { gte(a: string, b: string): boolean };

const VERSIONS = [
  '0.0.0',
  '2.7.15',
  '2.7.16',
  '2.8.0',
  '2.10.0',
  '3.0.0',
  '8.0.0',
  '20.19.0',
  '22.11.0',
  'v22.11.0',
  '2.7.15-beta',
  '2.7.15-beta.2',
  '2.7.15-beta.11',
  '2.7.15-alpha',
  '2.7.15-1',
  '2.7.15-rc.1+build.5',
  '2.7.15+build.5',
];

describe("semver's gte, as bundled for the X-Ray SDK", () => {
  it('orders every pair of these versions as semver does', () => {
    for (const a of VERSIONS) {
      for (const b of VERSIONS) expect(gte(a, b), `${a} >= ${b}`).toBe(semver.gte(a, b));
    }
  });

  it('orders generated versions as semver does', () => {
    const identifier = fc.oneof(fc.nat(30).map(String), fc.constantFrom('alpha', 'beta', 'rc', 'x-1'));
    const version = fc
      .tuple(fc.nat(12), fc.nat(12), fc.nat(12), fc.array(identifier, { maxLength: 3 }))
      .map(
        ([major, minor, patch, pre]) => `${major}.${minor}.${patch}${pre.length ? `-${pre.join('.')}` : ''}`,
      );
    fc.assert(fc.property(version, version, (a, b) => gte(a, b) === semver.gte(a, b)));
  });

  it('refuses what is not a version, as semver does', () => {
    expect(() => semver.gte('not a version', '1.0.0')).toThrow(TypeError);
    expect(() => gte('not a version', '1.0.0')).toThrow(/Invalid Version: not a version/);
  });
});

describe('xraySemver', () => {
  it("bundles this gte for the X-Ray SDK's semver, and none of semver itself", async () => {
    const bundle = async (plugins: Parameters<typeof build>[0]['plugins']) => {
      const result = await build({
        stdin: {
          contents: "export { captureAWS } from 'aws-xray-sdk-core/dist/lib/patchers/aws_p';",
          resolveDir: process.cwd(),
        },
        bundle: true,
        platform: 'node',
        format: 'esm',
        write: false,
        metafile: true,
        logLevel: 'silent',
        plugins,
      });
      return Object.keys(result.metafile.inputs);
    };
    const withPlugin = await bundle([xraySemver()]);
    const without = await bundle([]);

    expect(without.some((path) => path.includes('node_modules/semver/'))).toBe(true);
    expect(withPlugin.some((path) => path.includes('node_modules/semver/'))).toBe(false);
    expect(withPlugin.some((path) => path.endsWith('build/semver-gte.mjs'))).toBe(true);
  });
});

describe('packageVersions', () => {
  it("bundles the name and version of the SDK clients' and the X-Ray SDK's package.json, nothing else", async () => {
    const result = await build({
      stdin: {
        contents: [
          "export { default as ec2 } from './node_modules/@aws-sdk/client-ec2/package.json';",
          "export { default as xray } from './node_modules/aws-xray-sdk-core/package.json';",
          "export { default as middy } from './node_modules/@middy/core/package.json';",
        ].join('\n'),
        resolveDir: process.cwd(),
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      plugins: [packageVersions()],
    });
    const bundled = await import(
      `data:text/javascript;base64,${Buffer.from(result.outputFiles[0]!.text).toString('base64')}`
    );
    const published = (name: string) =>
      JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as Record<string, unknown>;

    for (const [key, name] of [
      ['ec2', '@aws-sdk/client-ec2'],
      ['xray', 'aws-xray-sdk-core'],
    ] as const) {
      const { name: packageName, version } = published(name);
      expect(bundled[key]).toEqual({ name: packageName, version });
    }
    // Packages not known to read only those two fields keep their package.json whole.
    expect(bundled.middy).toEqual(published('@middy/core'));
  });
});
