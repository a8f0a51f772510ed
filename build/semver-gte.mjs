/**
 * What the functions' bundles get for `semver` (see `xraySemver` in esbuild-plugins.mjs). The X-Ray
 * SDK, which the Powertools tracer loads, requires `semver` in one place, for `gte` (whether an
 * AWS SDK v2 passed to `captureAWS` is recent enough), and loading `semver` whole builds all its
 * regular expressions at cold start. This is `gte` over `major.minor.patch[-prerelease]`, with
 * semver's ordering; it throws, as semver does, on what is not a version.
 *
 * Plain JavaScript: esbuild bundles it in place of the package.
 */

const VERSION = /^\s*[v=]?\s*(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?\s*$/;

/** @param {string} version */
function parse(version) {
  const match = VERSION.exec(String(version));
  if (!match) throw new TypeError(`Invalid Version: ${version}`);
  const [, major, minor, patch, prerelease] = match;
  return { core: [Number(major), Number(minor), Number(patch)], prerelease: prerelease?.split('.') ?? [] };
}

/** semver's order of two prerelease identifiers: numbers below names, numbers by value. */
function compareIdentifiers(a, b) {
  const aNumeric = /^\d+$/.test(a);
  const bNumeric = /^\d+$/.test(b);
  if (aNumeric && bNumeric) return Math.sign(Number(a) - Number(b));
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** @param {string} a @param {string} b */
function compare(a, b) {
  const left = parse(a);
  const right = parse(b);
  for (let i = 0; i < 3; i++) {
    const difference = Math.sign(left.core[i] - right.core[i]);
    if (difference !== 0) return difference;
  }
  if (left.prerelease.length === 0 || right.prerelease.length === 0) {
    return Math.sign(right.prerelease.length - left.prerelease.length);
  }
  for (let i = 0; i < Math.max(left.prerelease.length, right.prerelease.length); i++) {
    if (left.prerelease[i] === undefined) return -1;
    if (right.prerelease[i] === undefined) return 1;
    const difference = compareIdentifiers(left.prerelease[i], right.prerelease[i]);
    if (difference !== 0) return difference;
  }
  return 0;
}

/** `semver.gte(a, b)`: whether version `a` is at or above `b`. */
export const gte = (a, b) => compare(a, b) >= 0;
