/**
 * The role and the replay bus as deployed: reads the CloudFormation template `serverless package`
 * writes and fails on any grant wider than the trust model (README, "Trust model"). Two templates:
 * the default one (`.serverless/`, packaged here when missing or older than serverless.yml and
 * infra/), and one with every optional param set (replay on, instance roles, target group ARNs).
 */

import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { handoffTags } from '../../src/config.ts';

const TAGS = handoffTags({ managedTagKey: 'spot-handoff:managed', statefulTagKey: 'spot-handoff:stateful' });
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MANAGED = 'spot-handoff:managed';
const STATEFUL = 'spot-handoff:stateful';
const REPLAY_PRINCIPALS = ['arn:aws:iam::123456789012:role/ops', 'arn:aws:iam::123456789012:user/ci'];
const TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';
const INSTANCE_ROLE = 'arn:aws:iam::123456789012:role/app/web-instance';
const PACKAGE_TIMEOUT_MS = 300_000;

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}
interface Template {
  Resources: Record<string, { Type: string; Properties: Json; Condition?: string }>;
  Outputs?: Record<string, { Value: unknown }>;
  Conditions?: Record<string, unknown>;
}

const cjs = createRequire(import.meta.url);
const iam = cjs(join(ROOT, 'infra/iam.cjs')) as {
  statements: (managedTagKey: string, options?: Json) => Statement[];
  OWN_TAG_KEYS: string[];
};
const replay = cjs(join(ROOT, 'infra/replay.cjs')) as { replayResources: (options: Json) => Template };

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : [value]);
const actions = (s: Statement) => list(s.Action) as string[];
const text = (value: unknown) => JSON.stringify(value) ?? '';

/** `serverless package` as `npm run package` runs it, into `dir`, with extra params. */
async function packageInto(dir: string, params: Record<string, string> = {}): Promise<void> {
  const args = ['package', '--stage', 'dev', '--region', 'us-east-1', '--package', dir];
  for (const [name, value] of Object.entries(params)) args.push(`--param=${name}=${value}`);
  await promisify(execFile)(join(ROOT, 'node_modules/.bin/serverless'), args, {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
    maxBuffer: 16 * 1024 * 1024,
  });
}

const TEMPLATE = 'cloudformation-template-update-stack.json';
const readTemplate = (dir: string) => JSON.parse(readFileSync(join(dir, TEMPLATE), 'utf8')) as Template;

/** Whether `.serverless/` holds a template at least as new as what it is made from. */
function packagedIsFresh(): boolean {
  const template = join(ROOT, '.serverless', TEMPLATE);
  if (!existsSync(template)) return false;
  const sources = [
    join(ROOT, 'serverless.yml'),
    ...readdirSync(join(ROOT, 'infra')).map((file) => join(ROOT, 'infra', file)),
  ];
  const built = statSync(template).mtimeMs;
  return sources.every((source) => statSync(source).mtimeMs <= built);
}

const roleStatements = (template: Template): Statement[] =>
  Object.values(template.Resources)
    .filter((resource) => resource.Type === 'AWS::IAM::Role')
    .flatMap((role) =>
      (role.Properties['Policies'] as { PolicyDocument: { Statement: Statement[] } }[]).flatMap(
        (policy) => policy.PolicyDocument.Statement,
      ),
    );

/** Calls no IAM policy can scope to resources (Service Authorization Reference: no resource type). */
const UNSCOPABLE = [
  /^ec2:(Describe\w+|GetSpotPlacementScores|GetInstanceTypesFromInstanceRequirements)$/,
  /^elasticloadbalancing:Describe\w+$/,
  /^xray:Put(TraceSegments|TelemetryRecords)$/,
];
const isUnscopable = (action: string) => UNSCOPABLE.some((pattern) => pattern.test(action));

/** Condition keys that tie a grant to what is ours: its tag, the launch's request tag, or creation. */
const scopingKeys = (s: Statement) =>
  Object.values(s.Condition ?? {})
    .flatMap((operator) => Object.keys(operator))
    .filter(
      (key) =>
        key === `aws:ResourceTag/${MANAGED}` ||
        key === `aws:RequestTag/${MANAGED}` ||
        key === 'ec2:CreateAction',
    );

/** An ARN naming one thing: a stack resource, or a literal without wildcards. */
function isSpecific(resource: unknown): boolean {
  if (typeof resource === 'string') return !/[*?]/.test(resource.split(':').slice(5).join(':'));
  if (resource && typeof resource === 'object') {
    if ('Ref' in resource || 'Fn::GetAtt' in resource) return true;
    const sub = (resource as Json)['Fn::Sub'];
    if (typeof sub === 'string') return !/[*?]/.test(sub.split(':').slice(5).join(':'));
  }
  return false;
}

/** Log streams of this service's own log groups (written by osls for the functions). */
const isOwnLogGroup = (resource: unknown) =>
  text(resource).includes(':log-group:/aws/lambda/spot-handoff-dev');

/**
 * Launch ingredients (image, subnet, launch template, …) may be granted without a condition only
 * for actions that always also need an `instance` resource (RunInstances: instance*; CreateFleet:
 * instance*), granted solely under the managed request tag.
 */
const NEEDS_INSTANCE = new Set(['ec2:RunInstances', 'ec2:CreateFleet']);

let workDir: string;
let defaults: Template;
let everything: Template;

beforeAll(async () => {
  const packaged = join(ROOT, '.serverless');
  if (!packagedIsFresh()) await packageInto(packaged);
  defaults = readTemplate(packaged);
  workDir = mkdtempSync(join(tmpdir(), 'spot-handoff-iam-'));
  // Packaging elsewhere clears `.serverless/` (osls's temporary directory): keep it as it was.
  const kept = join(workDir, 'default');
  cpSync(packaged, kept, { recursive: true, preserveTimestamps: true });
  try {
    await packageInto(join(workDir, 'everything'), {
      replayEnabled: 'true',
      replayPrincipalArns: REPLAY_PRINCIPALS.join(','),
      instanceRoleArns: `${INSTANCE_ROLE},db-instance`,
      targetGroupArns: TARGET_GROUP,
    });
  } finally {
    rmSync(packaged, { recursive: true, force: true });
    cpSync(kept, packaged, { recursive: true, preserveTimestamps: true });
  }
  everything = readTemplate(join(workDir, 'everything'));
}, PACKAGE_TIMEOUT_MS);

afterAll(() => {
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

const templates = () =>
  [
    ['default params', defaults],
    ['every optional param', everything],
  ] as const;

describe('the role, as packaged', () => {
  it('grants no wildcard actions and no NotAction/NotResource', () => {
    for (const [, template] of templates()) {
      for (const statement of roleStatements(template)) {
        for (const action of actions(statement)) expect(action, statement.Sid).not.toMatch(/[*?]/);
        expect(Object.keys(statement)).not.toContain('NotAction');
        expect(Object.keys(statement)).not.toContain('NotResource');
      }
    }
  });

  it('grants "*" only to calls that cannot be scoped, EC2 and ELB reads only in the stack\'s Region', () => {
    for (const [name, template] of templates()) {
      const anywhere = roleStatements(template).filter(
        (s) => s.Effect === 'Allow' && list(s.Resource).includes('*'),
      );
      expect(anywhere.length, name).toBeGreaterThan(0);
      for (const statement of anywhere) {
        for (const action of actions(statement)) {
          expect(isUnscopable(action), `${statement.Sid ?? '(osls)'} grants ${action} on "*"`).toBe(true);
          if (!action.startsWith('xray:')) {
            expect(statement.Condition?.['StringEquals']?.['aws:RequestedRegion']).toEqual({
              Ref: 'AWS::Region',
            });
          }
        }
      }
    }
  });

  it('conditions every mutation on the managed tag or creation, or names exactly what it changes', () => {
    for (const [name, template] of templates()) {
      const allows = roleStatements(template).filter((s) => s.Effect === 'Allow');
      for (const statement of allows) {
        const label = `${name}: ${statement.Sid ?? text(statement.Action)}`;
        const mutations = actions(statement).filter((action) => !isUnscopable(action));
        if (mutations.length === 0 || scopingKeys(statement).length > 0) continue;
        const resources = list(statement.Resource);
        if (resources.every((r) => isSpecific(r) || isOwnLogGroup(r))) continue;
        // Unconditioned wildcards: only launch ingredients, and never the instance itself.
        for (const action of mutations) {
          expect(
            NEEDS_INSTANCE.has(action),
            `${label} grants ${action} on wildcards without a condition`,
          ).toBe(true);
          const onInstances = allows.filter(
            (s) => actions(s).includes(action) && text(s.Resource).includes(':instance/'),
          );
          expect(onInstances.length, `${action} is never granted on instances`).toBeGreaterThan(0);
          for (const s of onInstances) {
            expect(s.Condition?.['StringEquals']?.[`aws:RequestTag/${MANAGED}`], s.Sid).toBe('true');
          }
        }
        expect(text(resources), label).not.toMatch(/:(instance|volume|network-interface|elastic-ip)\//);
      }
    }
  });

  it('never lets the role add, change or remove the managed tag on what exists', () => {
    for (const [name, template] of templates()) {
      const statements = roleStatements(template);
      const allows = statements.filter((s) => s.Effect === 'Allow');
      expect(
        allows.filter((s) => actions(s).includes('ec2:DeleteTags')),
        name,
      ).toEqual([]);
      const tagging = allows.filter((s) => actions(s).includes('ec2:CreateTags'));
      expect(tagging.length, name).toBeGreaterThan(0);
      for (const s of tagging) {
        expect(actions(s), `${s.Sid} grants CreateTags with other actions`).toEqual(['ec2:CreateTags']);
        const atCreation = s.Condition?.['StringEquals']?.['ec2:CreateAction'];
        if (atCreation !== undefined) {
          for (const action of list(atCreation)) {
            expect(['RunInstances', 'CreateFleet', 'CreateVolume', 'CreateSnapshot']).toContain(action);
          }
          continue;
        }
        // After creation: a fixed list of keys, none the user's, on managed resources only.
        const keys = list(s.Condition?.['ForAllValues:StringEquals']?.['aws:TagKeys']) as string[];
        expect(keys.length, `${s.Sid} writes any key`).toBeGreaterThan(0);
        expect(s.Condition?.['Null']?.['aws:TagKeys'], s.Sid).toBe('false');
        expect(s.Condition?.['StringEquals']?.[`aws:ResourceTag/${MANAGED}`], s.Sid).toBe('true');
        for (const key of keys) expect(key).not.toMatch(/[*?]/);
        expect(keys).not.toContain(MANAGED);
        expect(keys).not.toContain(STATEFUL);
        expect(
          Object.keys(s.Condition ?? {}).some((operator) => operator.includes('Like')),
          s.Sid,
        ).toBe(false);
      }
      // And whatever else is ever attached to the role: explicit denies.
      const denies = statements.filter((s) => s.Effect === 'Deny');
      const denyUserKeys = denies.find((s) => actions(s).includes('ec2:CreateTags'));
      expect(denyUserKeys?.Resource).toBe('*');
      expect(denyUserKeys?.Condition).toEqual({
        'ForAnyValue:StringEquals': { 'aws:TagKeys': [MANAGED, STATEFUL] },
        Null: { 'ec2:CreateAction': 'true' },
      });
      const denyRemoval = denies.find((s) => actions(s).includes('ec2:DeleteTags'));
      expect(denyRemoval?.Resource).toBe('*');
      expect(denyRemoval?.Condition).toBeUndefined();
    }
  });

  it('writes, after creation, exactly the bookkeeping keys the handoff sets', () => {
    expect([...iam.OWN_TAG_KEYS].sort()).toEqual(
      [TAGS.workflow, TAGS.ready, TAGS.leftAvailable, TAGS.migratedTo].sort(),
    );
  });

  it('creates snapshots and volumes only for a workflow, and restores only workflow snapshots', () => {
    for (const [, template] of templates()) {
      const allows = roleStatements(template).filter((s) => s.Effect === 'Allow');
      const creating = (action: string, type: string) =>
        allows.filter((s) => actions(s).includes(action) && text(s.Resource).includes(`:${type}/`));
      for (const s of [
        ...creating('ec2:CreateSnapshot', 'snapshot'),
        ...creating('ec2:CreateVolume', 'volume'),
      ]) {
        expect(s.Condition).toEqual({
          StringEquals: { [`aws:RequestTag/${MANAGED}`]: 'true' },
          Null: { 'aws:RequestTag/spot-handoff:workflow': 'false' },
        });
      }
      for (const s of creating('ec2:CreateVolume', 'snapshot')) {
        expect(s.Condition).toEqual({
          StringEquals: { [`aws:ResourceTag/${MANAGED}`]: 'true' },
          Null: { 'aws:ResourceTag/spot-handoff:workflow': 'false' },
        });
      }
      for (const s of creating('ec2:CreateSnapshot', 'volume')) {
        expect(s.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${MANAGED}`]: 'true' } });
      }
    }
  });

  it('passes only the named instance roles, only to EC2', () => {
    const passing = (template: Template) =>
      roleStatements(template).filter((s) => s.Effect === 'Allow' && actions(s).includes('iam:PassRole'));
    expect(passing(defaults)).toEqual([]);
    const [named] = passing(everything);
    expect(passing(everything)).toHaveLength(1);
    expect(named?.Resource).toEqual([
      INSTANCE_ROLE,
      { 'Fn::Sub': `arn:\${AWS::Partition}:iam::\${AWS::AccountId}:role/db-instance` },
    ]);
    expect(text(named?.Resource)).not.toContain('*');
    expect(named?.Condition).toEqual({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  });

  it('moves targets only in target groups tagged managed, or exactly the listed ones', () => {
    const moving = (template: Template) =>
      roleStatements(template).filter((s) => actions(s).includes('elasticloadbalancing:RegisterTargets'));
    const [tagged] = moving(defaults);
    expect(moving(defaults)).toHaveLength(1);
    expect(tagged?.Condition).toEqual({ StringEquals: { [`aws:ResourceTag/${MANAGED}`]: 'true' } });
    const [listed] = moving(everything);
    expect(moving(everything)).toHaveLength(1);
    expect(list(listed?.Resource)).toEqual([TARGET_GROUP]);
    expect(listed?.Condition).toBeUndefined();
  });

  it('grants every EC2, ELB and DynamoDB call the adapters make', () => {
    const granted = new Set(
      roleStatements(defaults)
        .filter((s) => s.Effect === 'Allow')
        .flatMap(actions),
    );
    const prefixes: Record<string, string> = {
      '@aws-sdk/client-ec2': 'ec2',
      '@aws-sdk/client-elastic-load-balancing-v2': 'elasticloadbalancing',
      '@aws-sdk/lib-dynamodb': 'dynamodb',
    };
    // The document client's commands are named after the item actions they send.
    const dynamoAction = (name: string) =>
      /^(Get|Put|Update|Delete|BatchGet|BatchWrite)$/.test(name) ? `${name}Item` : name;
    const called = readdirSync(join(ROOT, 'src/aws'))
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) => {
        const source = readFileSync(join(ROOT, 'src/aws', file), 'utf8');
        return [...source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'([^']+)'/g)].flatMap(
          ([, names, module]) => {
            const prefix = prefixes[module ?? ''];
            if (!prefix) return [];
            return [...(names ?? '').matchAll(/\b(\w+)Command\b(?!Input|Output)/g)].map(([, name]) =>
              prefix === 'dynamodb' ? `dynamodb:${dynamoAction(name!)}` : `${prefix}:${name}`,
            );
          },
        );
      });
    expect(called.length).toBeGreaterThan(10);
    expect(called).toEqual(expect.arrayContaining(['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem']));
    for (const action of new Set(called)) expect(granted, action).toContain(action);
  });

  it('rejects params that would widen the role, naming the param', () => {
    expect(() => iam.statements(MANAGED, { instanceRoleArns: 'arn:aws:iam::123456789012:role/*' })).toThrow(
      /instanceRoleArns/,
    );
    expect(() => iam.statements(MANAGED, { targetGroupArns: 'arn:aws:elasticloadbalancing:*' })).toThrow(
      /targetGroupArns/,
    );
    expect(() => iam.statements('spot-handoff:workflow')).toThrow(/managedTagKey/);
    expect(() => iam.statements(MANAGED, { statefulTagKey: MANAGED })).toThrow(/statefulTagKey/);
    expect(() => iam.statements('aws:reserved')).toThrow(/managedTagKey/);
  });

  it('keeps the table and the dead-letter queue encrypted, and the log retention', () => {
    for (const [, template] of templates()) {
      expect(template.Resources['StateTable']?.Properties['SSESpecification']).toEqual({ SSEEnabled: true });
      expect(template.Resources['DeadLetterQueue']?.Properties['SqsManagedSseEnabled']).toBe(true);
      const logGroups = Object.values(template.Resources).filter((r) => r.Type === 'AWS::Logs::LogGroup');
      expect(logGroups).toHaveLength(4);
      for (const group of logGroups) expect(group.Properties['RetentionInDays']).toBe(30);
    }
  });
});

describe('replay, as packaged', () => {
  const rules = (template: Template) =>
    Object.entries(template.Resources).filter(([, resource]) => resource.Type === 'AWS::Events::Rule');
  const replayRules = (template: Template) =>
    rules(template).filter(([, rule]) =>
      text(rule.Properties['EventPattern']).includes('spot-handoff.replay'),
    );

  it('is off by default: no replay bus, and no rule matches the replay source', () => {
    expect(replayRules(defaults)).toEqual([]);
    expect(Object.values(defaults.Resources).map((r) => r.Type)).not.toContain('AWS::Events::EventBus');
    expect(defaults.Outputs?.['ReplayEventBusName']).toBeUndefined();
    expect(defaults.Conditions?.['ReplayEnabled']).toEqual({ 'Fn::Equals': ['false', 'true'] });
  });

  it('when enabled, matches replays only on the replay bus, for the same functions as the default rules', () => {
    const onReplayBus = replayRules(everything);
    expect(onReplayBus).toHaveLength(3);
    for (const [, rule] of onReplayBus) {
      expect(rule.Properties['EventBusName']).toEqual({ Ref: 'ReplayEventBus' });
      expect((rule.Properties['EventPattern'] as Json)['source']).toEqual(['spot-handoff.replay']);
    }
    // The function a target reaches: itself, or (delivery queue) the one its queue's mapping feeds.
    const mappings = Object.values(everything.Resources).filter(
      (r) => r.Type === 'AWS::Lambda::EventSourceMapping',
    );
    const reached = (arn: unknown) => {
      const mapping = mappings.find((m) => text(m.Properties['EventSourceArn']) === text(arn));
      const fn = (mapping?.Properties['FunctionName'] as { Ref?: string } | undefined)?.Ref;
      return fn ? text({ 'Fn::GetAtt': [fn, 'Arn'] }) : text(arn);
    };
    const targetsOf = (entries: ReturnType<typeof rules>) =>
      entries
        .flatMap(([, rule]) => (rule.Properties['Targets'] as Json[]).map((target) => reached(target['Arn'])))
        .sort();
    const fromAws = rules(everything).filter(([, rule]) =>
      /"aws\.(ec2|cloudwatch)"/.test(text(rule.Properties['EventPattern'])),
    );
    expect(targetsOf(onReplayBus)).toEqual(targetsOf(fromAws));
    for (const [, rule] of fromAws) expect(rule.Properties['EventBusName']).toBeUndefined();
    expect(everything.Outputs?.['ReplayEventBusName']?.Value).toEqual({ Ref: 'ReplayEventBus' });
  });

  it('admits only the named principals on the replay bus', () => {
    const policies = Object.values(everything.Resources)
      .filter((r) => r.Type === 'AWS::Events::EventBusPolicy')
      .map((r) => r.Properties['Statement'] as Json);
    expect(policies).toHaveLength(2);
    const allow = policies.find((p) => p['Effect'] === 'Allow');
    const deny = policies.find((p) => p['Effect'] === 'Deny');
    expect(allow?.['Principal']).toEqual({ AWS: REPLAY_PRINCIPALS });
    expect(deny).toMatchObject({
      Principal: '*',
      Action: 'events:PutEvents',
      Condition: { ArnNotEquals: { 'aws:PrincipalArn': REPLAY_PRINCIPALS } },
    });
  });

  it("sends the replay rules' dead letters to the queue, which admits them only when replay is enabled", () => {
    for (const [, rule] of replayRules(everything)) {
      expect((rule.Properties['Targets'] as Json[])[0]?.['DeadLetterConfig']).toEqual({
        Arn: { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] },
      });
    }
    expect(everything.Conditions?.['ReplayEnabled']).toEqual({ 'Fn::Equals': ['true', 'true'] });
    const policy = everything.Resources['DeadLetterQueuePolicy']?.Properties['PolicyDocument'] as Json;
    const statements = policy['Statement'] as Json[];
    const gated = statements.find((s) => text(s).includes('ReplayRuleDeadLetters'));
    expect(gated?.['Fn::If']).toEqual(['ReplayEnabled', expect.anything(), { Ref: 'AWS::NoValue' }]);
    for (const [, rule] of replayRules(everything)) {
      expect(text(gated)).toContain(`/${String(rule.Properties['Name'])}"`);
    }
  });

  it('refuses to enable replay without principals, or with wildcards, naming the param', () => {
    const options = { enabled: 'true', busName: 'bus', rules: [] };
    expect(() => replay.replayResources({ ...options, principalArns: '' })).toThrow(/replayPrincipalArns/);
    expect(() =>
      replay.replayResources({ ...options, principalArns: 'arn:aws:iam::123456789012:role/*' }),
    ).toThrow(/replayPrincipalArns/);
    expect(() => replay.replayResources({ ...options, enabled: 'yes' })).toThrow(/replayEnabled/);
  });
});
