import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  compilePattern,
  type EventPattern,
  EventPatternError,
  loadFunctionPatterns,
  matchesPattern,
} from '../../localcloud/event-patterns.ts';

const event = {
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': 'EC2 Instance State-change Notification',
  source: 'aws.ec2',
  account: '123456789012',
  time: '2026-01-01T12:02:38Z',
  region: 'us-east-1',
  resources: ['arn:aws:ec2:us-east-1:123456789012:instance/i-0123456789abcdef0'],
  detail: {
    'instance-id': 'i-0123456789abcdef0',
    state: 'terminated',
    count: 5,
    ratio: 0.5,
    spot: true,
    note: null,
    ip: '10.0.3.17',
    ipv6: '2001:db8::ff00:42:8329',
    tags: ['web', 'blue'],
    interfaces: [
      { id: 'eni-1', primary: true, subnet: 'subnet-a' },
      { id: 'eni-2', primary: false, subnet: 'subnet-b' },
    ],
    placement: { zone: 'us-east-1a' },
  },
};

const matches = (pattern: EventPattern) => matchesPattern(pattern, event);

describe('matchesPattern: values', () => {
  it('matches when any listed value equals the event value', () => {
    // Prepare / Act / Assess
    expect(matches({ source: ['aws.autoscaling', 'aws.ec2'] })).toBe(true);
    expect(matches({ source: ['aws.autoscaling'] })).toBe(false);
  });

  it('requires every field of the pattern', () => {
    expect(matches({ source: ['aws.ec2'], 'detail-type': ['EC2 Instance State-change Notification'] })).toBe(
      true,
    );
    expect(matches({ source: ['aws.ec2'], 'detail-type': ['EC2 Spot Instance Interruption Warning'] })).toBe(
      false,
    );
  });

  it('compares strings exactly and keeps types apart', () => {
    expect(matches({ source: ['AWS.EC2'] })).toBe(false);
    expect(matches({ detail: { count: [5] } })).toBe(true);
    expect(matches({ detail: { count: ['5'] } })).toBe(false);
    expect(matches({ detail: { spot: [true] } })).toBe(true);
    expect(matches({ detail: { spot: ['true'] } })).toBe(false);
    expect(matches({ detail: { note: [null] } })).toBe(true);
    expect(matches({ detail: { state: [null] } })).toBe(false);
  });

  it('matches an event array when any element matches', () => {
    expect(matches({ detail: { tags: ['blue'] } })).toBe(true);
    expect(matches({ detail: { tags: ['green'] } })).toBe(false);
    expect(matches({ resources: [{ prefix: 'arn:aws:ec2:us-east-1:' }] })).toBe(true);
  });

  it('never matches a field the event lacks, except with exists: false', () => {
    expect(matches({ detail: { reason: ['x'] } })).toBe(false);
    expect(matches({ detail: { reason: [{ 'anything-but': 'x' }] } })).toBe(false);
    expect(matches({ missing: { deeper: ['x'] } })).toBe(false);
    expect(matches({ missing: { deeper: [{ exists: false }] } })).toBe(true);
  });

  it('matches nested objects, and an array of objects element by element', () => {
    expect(matches({ detail: { placement: { zone: ['us-east-1a'] } } })).toBe(true);
    expect(matches({ detail: { interfaces: { id: ['eni-2'], subnet: ['subnet-b'] } } })).toBe(true);
    // eni-1 is in subnet-a: fields of different elements do not combine.
    expect(matches({ detail: { interfaces: { id: ['eni-1'], subnet: ['subnet-b'] } } })).toBe(false);
  });
});

describe('matchesPattern: content filters', () => {
  it('prefix and suffix, optionally ignoring case', () => {
    expect(matches({ detail: { 'instance-id': [{ prefix: 'i-0123' }] } })).toBe(true);
    expect(matches({ detail: { 'instance-id': [{ prefix: 'I-0123' }] } })).toBe(false);
    expect(matches({ detail: { 'instance-id': [{ prefix: { 'equals-ignore-case': 'I-0123' } }] } })).toBe(
      true,
    );
    expect(matches({ 'detail-type': [{ suffix: 'Notification' }] })).toBe(true);
    expect(matches({ 'detail-type': [{ suffix: { 'equals-ignore-case': 'NOTIFICATION' } }] })).toBe(true);
    expect(matches({ detail: { count: [{ prefix: '5' }] } })).toBe(false);
  });

  it('equals-ignore-case', () => {
    expect(matches({ detail: { state: [{ 'equals-ignore-case': 'TERMINATED' }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'equals-ignore-case': 'running' }] } })).toBe(false);
  });

  it('wildcard, with * for any run and \\* for a star', () => {
    expect(matches({ resources: [{ wildcard: 'arn:aws:ec2:*:instance/i-*' }] })).toBe(true);
    expect(matches({ resources: [{ wildcard: 'arn:aws:ec2:*:volume/*' }] })).toBe(false);
    expect(matchesPattern({ name: [{ wildcard: 'a\\*b' }] }, { name: 'a*b' })).toBe(true);
    expect(matchesPattern({ name: [{ wildcard: 'a\\*b' }] }, { name: 'axxb' })).toBe(false);
    expect(matchesPattern({ name: [{ wildcard: 'a.c' }] }, { name: 'abc' })).toBe(false);
  });

  it('anything-but a value, a list, or a matcher', () => {
    expect(matches({ detail: { state: [{ 'anything-but': 'pending' }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': ['pending', 'terminated'] }] } })).toBe(false);
    expect(matches({ detail: { count: [{ 'anything-but': [1, 2] }] } })).toBe(true);
    expect(matches({ detail: { count: [{ 'anything-but': [5] }] } })).toBe(false);
    expect(matches({ detail: { state: [{ 'anything-but': { prefix: 'term' } }] } })).toBe(false);
    expect(matches({ detail: { state: [{ 'anything-but': { prefix: 'run' } }] } })).toBe(true);
    expect(matches({ detail: { state: [{ 'anything-but': { suffix: 'ated' } }] } })).toBe(false);
    expect(
      matches({ detail: { state: [{ 'anything-but': { 'equals-ignore-case': ['TERMINATED'] } }] } }),
    ).toBe(false);
    expect(matches({ detail: { state: [{ 'anything-but': { wildcard: 'term*' } }] } })).toBe(false);
    // An array matches when one of its elements is not excluded.
    expect(matches({ detail: { tags: [{ 'anything-but': 'web' }] } })).toBe(true);
    expect(matches({ detail: { tags: [{ 'anything-but': ['web', 'blue'] }] } })).toBe(false);
  });

  it('numeric comparisons and ranges, on numbers only', () => {
    expect(matches({ detail: { count: [{ numeric: ['=', 5] }] } })).toBe(true);
    expect(matches({ detail: { count: [{ numeric: ['>', 0, '<=', 5] }] } })).toBe(true);
    expect(matches({ detail: { count: [{ numeric: ['>', 5] }] } })).toBe(false);
    expect(matches({ detail: { ratio: [{ numeric: ['>=', 0.5, '<', 1] }] } })).toBe(true);
    expect(matches({ detail: { state: [{ numeric: ['>', 0] }] } })).toBe(false);
  });

  it('exists on leaves, not on intermediate objects', () => {
    expect(matches({ detail: { state: [{ exists: true }] } })).toBe(true);
    expect(matches({ detail: { note: [{ exists: true }] } })).toBe(true);
    expect(matches({ detail: { reason: [{ exists: true }] } })).toBe(false);
    expect(matches({ detail: { reason: [{ exists: false }] } })).toBe(true);
    expect(matches({ detail: { state: [{ exists: false }] } })).toBe(false);
    expect(matches({ detail: { placement: [{ exists: true }] } })).toBe(false);
  });

  it('cidr for IPv4 and IPv6', () => {
    expect(matches({ detail: { ip: [{ cidr: '10.0.0.0/16' }] } })).toBe(true);
    expect(matches({ detail: { ip: [{ cidr: '10.1.0.0/16' }] } })).toBe(false);
    expect(matches({ detail: { ip: [{ cidr: '0.0.0.0/0' }] } })).toBe(true);
    expect(matches({ detail: { ipv6: [{ cidr: '2001:db8::/32' }] } })).toBe(true);
    expect(matches({ detail: { ipv6: [{ cidr: '2001:db9::/32' }] } })).toBe(false);
    expect(matches({ detail: { ipv6: [{ cidr: '10.0.0.0/8' }] } })).toBe(false);
  });

  it('$or at the top and nested', () => {
    expect(matches({ $or: [{ source: ['aws.autoscaling'] }, { detail: { state: ['terminated'] } }] })).toBe(
      true,
    );
    expect(matches({ $or: [{ source: ['aws.autoscaling'] }, { detail: { state: ['running'] } }] })).toBe(
      false,
    );
    expect(
      matches({
        source: ['aws.ec2'],
        detail: { $or: [{ count: [{ numeric: ['<', 1] }] }, { spot: [true] }] },
      }),
    ).toBe(true);
  });
});

describe('compilePattern: invalid patterns', () => {
  it.each([
    ['a pattern that is not an object', ['aws.ec2'], '(root)'],
    ['an empty pattern', {}, '(root)'],
    ['a field that is neither a list nor an object', { source: 'aws.ec2' }, 'source'],
    ['an empty list', { source: [] }, 'source'],
    ['an unknown matcher', { source: [{ regex: '.*' }] }, 'source[0]'],
    ['a matcher with two keys', { source: [{ prefix: 'a', suffix: 'b' }] }, 'source[0]'],
    ['exists with a string', { source: [{ exists: 'yes' }] }, 'source[0]'],
    ['numeric without an operator', { n: [{ numeric: [5] }] }, 'n[0]'],
    ['numeric with two lower bounds', { n: [{ numeric: ['>', 1, '>', 2] }] }, 'n[0]'],
    ['a bad cidr', { ip: [{ cidr: '10.0.0.0/33' }] }, 'ip[0]'],
    ['$or with one alternative', { $or: [{ source: ['a'] }] }, '$or'],
    ['anything-but with an unknown matcher', { s: [{ 'anything-but': { numeric: ['>', 1] } }] }, 's[0]'],
    ['a nested empty list', { detail: { state: [] } }, 'detail.state'],
  ])('rejects %s', (_name, pattern, path) => {
    // Act
    const act = () => compilePattern(pattern);

    // Assess
    expect(act).toThrow(EventPatternError);
    expect(act).toThrow(`"${path}"`);
  });
});

describe('matchesPattern: properties', () => {
  const text = fc.string({ maxLength: 12 });

  it('a listed value matches itself and anything-but it does not', () => {
    fc.assert(
      fc.property(text, (value) => {
        expect(matchesPattern({ f: [value] }, { f: value })).toBe(true);
        expect(matchesPattern({ f: [{ 'anything-but': value }] }, { f: value })).toBe(false);
      }),
    );
  });

  it('a prefix matches every extension of it, and suffix likewise', () => {
    fc.assert(
      fc.property(text, text, (head, tail) => {
        expect(matchesPattern({ f: [{ prefix: head }] }, { f: head + tail })).toBe(true);
        expect(matchesPattern({ f: [{ suffix: tail }] }, { f: head + tail })).toBe(true);
      }),
    );
  });

  it('$or of two patterns matches when either does', () => {
    const pattern = fc.record({ f: fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1 }) });
    const subject = fc.record({ f: fc.constantFrom('a', 'b', 'c', 'd') });
    fc.assert(
      fc.property(pattern, pattern, subject, (left, right, value) => {
        const either = matchesPattern(left, value) || matchesPattern(right, value);
        expect(matchesPattern({ $or: [left, right] }, value)).toBe(either);
      }),
    );
  });
});

describe('loadFunctionPatterns', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  function serverlessFile(text: string): string {
    dir = mkdtempSync(join(tmpdir(), 'event-patterns-'));
    const path = join(dir, 'serverless.yml');
    writeFileSync(path, text);
    return path;
  }

  it('lists every eventBridge pattern with its function and handler, in file order', () => {
    // Prepare
    const path = serverlessFile(`
functions:
  first:
    handler: functions/first/handler.handler
    events:
      - eventBridge:
          pattern: { source: [aws.ec2] }
      - schedule: rate(5 minutes)
      - eventBridge:
          pattern: { source: [spot-handoff.replay] }
  second:
    handler: functions/second/handler.handler
    events:
      - eventBridge:
          schedule: rate(1 hour)
`);

    // Act
    const routes = loadFunctionPatterns(path);

    // Assess
    expect(routes).toEqual([
      { functionName: 'first', handler: 'functions/first/handler.handler', pattern: { source: ['aws.ec2'] } },
      {
        functionName: 'first',
        handler: 'functions/first/handler.handler',
        pattern: { source: ['spot-handoff.replay'] },
      },
    ]);
  });

  it('rejects a pattern holding a Serverless variable it cannot resolve', () => {
    const path = serverlessFile(`
functions:
  first:
    handler: h.handler
    events:
      - eventBridge:
          pattern: { source: ['\${self:custom.source}'] }
`);

    expect(() => loadFunctionPatterns(path)).toThrow(
      /functions\.first\.events\[0\]\.eventBridge\.pattern\.source\[0\]/,
    );
  });

  it('rejects an invalid pattern and names where it is', () => {
    const path = serverlessFile(`
functions:
  first:
    handler: h.handler
    events:
      - eventBridge:
          pattern: { detail: { state: running } }
`);

    expect(() => loadFunctionPatterns(path)).toThrow(EventPatternError);
    expect(() => loadFunctionPatterns(path)).toThrow(
      'functions.first.events[0].eventBridge.pattern.detail.state',
    );
  });

  it('names the pattern itself when the whole pattern is invalid', () => {
    const path = serverlessFile(`
functions:
  first:
    handler: h.handler
    events:
      - eventBridge:
          pattern: {}
`);

    expect(() => loadFunctionPatterns(path)).toThrow('"functions.first.events[0].eventBridge.pattern"');
  });
});
