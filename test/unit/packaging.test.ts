/**
 * What `serverless.yml` and `infra/` deploy, read as plain YAML (no `serverless package`: `.ci/run`
 * runs that separately). `${file(…)}` includes are followed; other variables stay strings.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadFunctionPatterns, matchesPattern } from '../../localcloud/event-patterns.ts';
import { readConfig } from '../../src/config.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Json = Record<string, unknown>;
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

const readYaml = (path: string): Json => parse(readFileSync(join(ROOT, path), 'utf8')) as Json;
const readJson = (path: string): Json => JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as Json;

const serverless = readYaml('serverless.yml');
const provider = serverless['provider'] as Json;
const functions = serverless['functions'] as Record<string, Json>;
/** The functions EventBridge rules invoke (the sweeper runs on a schedule). */
const eventFunctions = Object.fromEntries(
  Object.entries(functions).filter(([, fn]) =>
    (fn['events'] as Json[]).some((event) => 'eventBridge' in event),
  ),
);
const params = (serverless['params'] as { default: Record<string, string | number> }).default;
const custom = serverless['custom'] as Json;

const replay = createRequire(import.meta.url)(join(ROOT, 'infra/replay.cjs')) as {
  replayResources: (options: Json) => Json;
  eventBridgeRules: (serverlessFile: string) => (Json & { functionName: string; name: string })[];
};

/**
 * `resources:` is a list of `${file(infra/…)}` fragments that osls merges. The YAML ones are read
 * here, infra/replay.cjs is built with the default params; the other JavaScript ones (dashboard,
 * game day) are built from the params, and test/unit/operations.test.ts reads them from the
 * packaged template.
 */
const fragments = (serverless['resources'] as string[]).flatMap((include) => {
  const path = /^\$\{file\((.+)\)\}$/.exec(include)?.[1];
  if (!path) throw new Error(`resources entry ${include} is not a \${file(…)} include`);
  if (path === 'infra/replay.cjs') return [replay.replayResources({ enabled: params['replayEnabled'] })];
  return path.endsWith('.yml') ? [readYaml(path)] : [];
});
const resources = Object.assign({}, ...fragments.map((fragment) => fragment['Resources'])) as Record<
  string,
  Json
>;
const outputs = Object.assign({}, ...fragments.map((fragment) => fragment['Outputs'] ?? {})) as Record<
  string,
  Json
>;
const props = (logicalId: string) => resources[logicalId]?.['Properties'] as Json;

const iam = createRequire(import.meta.url)(join(ROOT, 'infra/iam.cjs')) as {
  statements: (managedTagKey: string, options?: Json) => Statement[];
};
const MANAGED = 'spot-handoff:managed';
const statements = iam.statements(MANAGED);
const list = (value: string | string[]) => (Array.isArray(value) ? value : [value]);

const DLQ_ARN = { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] };

const EXPECTED_EVENTS = {
  interruption: ['spot-interruption-warning', 'spot-interruption-warning-stop', 'rebalance-recommendation'],
  'state-change': [
    'state-change-pending',
    'state-change-running',
    'state-change-shutting-down',
    'state-change-stopped',
    'state-change-terminated',
  ],
} as const;

/** CloudWatch alarm samples (source `aws.cloudwatch`), routed to the healing function. */
const ALARM_EVENTS = ['cloudwatch-alarm-state-change', 'cloudwatch-alarm-status-check'] as const;

const sampleEvent = (name: string) => readJson(`events/${name}.json`);
const routes = loadFunctionPatterns(join(ROOT, 'serverless.yml'));
const routedTo = (event: Json) => [
  ...new Set(
    routes.filter((route) => matchesPattern(route.pattern, event)).map((route) => route.functionName),
  ),
];

/** osls's logical id of a function: `state-change` → `StateDashchangeLambdaFunction`. */
const lambdaLogicalId = (name: string) =>
  `${name.charAt(0).toUpperCase()}${name.slice(1).replaceAll('-', 'Dash').replaceAll('_', 'Underscore')}LambdaFunction`;

describe('functions', () => {
  it('runs both handlers on nodejs22.x, arm64', () => {
    // Assess
    expect(provider['runtime']).toBe('nodejs22.x');
    expect(provider['architecture']).toBe('arm64');
    expect(Object.keys(functions).sort()).toEqual(['healing', 'interruption', 'state-change', 'sweeper']);
    expect(Object.keys(eventFunctions).sort()).toEqual(['healing', 'interruption', 'state-change']);
    expect(functions['interruption']?.['handler']).toBe('functions/interruption/handler.handler');
    expect(functions['state-change']?.['handler']).toBe('functions/state-change/handler.handler');
    for (const fn of Object.values(functions)) {
      expect(fn['runtime'] ?? provider['runtime']).toBe('nodejs22.x');
      expect(fn['architecture'] ?? provider['architecture']).toBe('arm64');
    }
  });

  it('sweeps open workflows every minute, without retries (the next sweep is the retry)', () => {
    const sweeper = functions['sweeper']!;
    expect(sweeper['handler']).toBe('functions/sweeper/handler.handler');
    expect(sweeper['maximumRetryAttempts']).toBe(0);
    expect(sweeper['events']).toEqual([{ schedule: expect.objectContaining({ rate: 'rate(1 minute)' }) }]);
  });

  it('points each handler at a source file', () => {
    for (const fn of Object.values(functions)) {
      const file = String(fn['handler']).replace(/\.[^.]+$/, '.ts');
      expect(existsSync(join(ROOT, file)), file).toBe(true);
    }
  });

  it('bundles everything, AWS SDK included, into one ESM file per function', () => {
    const esbuild = custom['esbuild'] as Json;
    expect(serverless['plugins']).toContain('serverless-esbuild');
    expect((serverless['package'] as Json)['individually']).toBe(true);
    expect(esbuild).toMatchObject({
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      outputFileExtension: '.mjs',
      external: [],
      exclude: [],
    });
    expect(String((esbuild['banner'] as Json)['js'])).toContain('createRequire');
  });
});

describe('events and routing', () => {
  it.each(Object.entries(EXPECTED_EVENTS).flatMap(([fn, names]) => names.map((name) => [name, fn])))(
    'routes events/%s.json to %s only',
    (name, fn) => {
      // Prepare
      const event = sampleEvent(name);

      // Act / Assess
      expect(routedTo(event)).toEqual([fn]);
    },
  );

  it.each(Object.values(EXPECTED_EVENTS).flat())(
    'routes a replay of %s nowhere on the default bus, and like the original on the replay bus',
    (name) => {
      // Prepare
      const original = sampleEvent(name);
      const replayed = { ...original, source: 'spot-handoff.replay' };
      const replayBus = replay.replayResources({
        enabled: 'true',
        principalArns: 'arn:aws:iam::123456789012:role/ops',
        busName: 'replay',
        rules: replay.eventBridgeRules(join(ROOT, 'serverless.yml')),
      })['Resources'] as Record<string, Json>;
      const replayRoutes = Object.values(replayBus)
        .filter((resource) => resource['Type'] === 'AWS::Events::Rule')
        .map((rule) => rule['Properties'] as Json);

      // Act
      const onReplayBus = replayRoutes
        .filter((rule) => matchesPattern(rule['EventPattern'] as Json, replayed))
        .map((rule) => JSON.stringify((rule['Targets'] as Json[]).map((target) => target['Arn'])));

      // Assess
      expect(routedTo(replayed)).toEqual([]);
      expect(onReplayBus).toEqual(
        routedTo(original).map((fn) => JSON.stringify([{ 'Fn::GetAtt': [lambdaLogicalId(fn), 'Arn'] }])),
      );
      expect(replayRoutes.filter((rule) => matchesPattern(rule['EventPattern'] as Json, original))).toEqual(
        [],
      );
    },
  );

  it('ignores the same detail-types from any other source', () => {
    for (const name of Object.values(EXPECTED_EVENTS).flat()) {
      expect(routedTo({ ...sampleEvent(name), source: 'aws.autoscaling' })).toEqual([]);
      expect(routedTo({ ...sampleEvent(name), source: 'my.app' })).toEqual([]);
    }
  });

  it('has a sample for every file in events/, each listed in events/README.md', () => {
    const files = readdirSync(join(ROOT, 'events')).filter((file) => file.endsWith('.json'));
    const readme = readFileSync(join(ROOT, 'events/README.md'), 'utf8');
    expect(files.map((file) => file.replace(/\.json$/, '')).sort()).toEqual(
      [...Object.values(EXPECTED_EVENTS).flat(), ...ALARM_EVENTS].sort(),
    );
    for (const file of files) expect(readme).toContain(`events/${file}`);
  });

  it.each(ALARM_EVENTS)(
    'routes %s (and its replay) to the healing function only, and only into ALARM',
    (name) => {
      const event = sampleEvent(name);
      expect(event).toMatchObject({
        version: '0',
        source: 'aws.cloudwatch',
        'detail-type': 'CloudWatch Alarm State Change',
      });
      expect(routedTo(event)).toEqual(['healing']);
      expect(routedTo({ ...event, source: 'spot-handoff.replay' })).toEqual([]);
      const detail = event['detail'] as Json;
      const ok = { ...event, detail: { ...detail, state: { ...(detail['state'] as Json), value: 'OK' } } };
      expect(routedTo(ok)).toEqual([]);
    },
  );

  it('keeps the samples in the shape AWS sends', () => {
    for (const name of Object.values(EXPECTED_EVENTS).flat()) {
      const event = sampleEvent(name);
      expect(Object.keys(event).sort()).toEqual(
        ['account', 'detail', 'detail-type', 'id', 'region', 'resources', 'source', 'time', 'version'].sort(),
      );
      expect(event).toMatchObject({
        version: '0',
        source: 'aws.ec2',
        account: '123456789012',
        region: 'us-east-1',
      });
      expect(event['id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(event['time']).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect((event['detail'] as Json)['instance-id']).toBe('i-0123456789abcdef0');
    }
    expect((sampleEvent('spot-interruption-warning')['detail'] as Json)['instance-action']).toBe('terminate');
    expect((sampleEvent('spot-interruption-warning-stop')['detail'] as Json)['instance-action']).toBe('stop');
  });
});

describe('delivery and the dead-letter queue', () => {
  it('retries each function twice within an hour, then sends the event to the DLQ', () => {
    for (const fn of Object.values(eventFunctions)) {
      expect(fn['maximumRetryAttempts']).toBe(2);
      expect(fn['maximumEventAge']).toBe(3600);
      expect(fn['destinations']).toEqual({ onFailure: { type: 'sqs', arn: DLQ_ARN } });
    }
  });

  it('gives each EventBridge target a retry policy and the DLQ', () => {
    for (const fn of Object.values(eventFunctions)) {
      const rules = (fn['events'] as Json[]).map((event) => event['eventBridge'] as Json);
      expect(rules.length).toBeGreaterThan(0);
      for (const rule of rules) {
        expect(rule['retryPolicy']).toEqual({ maximumEventAge: 3600, maximumRetryAttempts: 185 });
        expect(rule['deadLetterQueueArn']).toEqual(DLQ_ARN);
        expect(rule['eventBus'] ?? 'default').toBe('default');
      }
    }
  });

  it('keeps dead letters 14 days, encrypted, and lets only our rules send them', () => {
    expect(resources['DeadLetterQueue']?.['Type']).toBe('AWS::SQS::Queue');
    expect(props('DeadLetterQueue')).toMatchObject({
      MessageRetentionPeriod: 1209600,
      SqsManagedSseEnabled: true,
    });
    const policy = props('DeadLetterQueuePolicy')['PolicyDocument'] as { Statement: Statement[] };
    const fromEvents = policy.Statement.find((statement) => statement.Effect === 'Allow');
    const ruleNames = Object.values(eventFunctions).flatMap((fn) =>
      (fn['events'] as Json[]).map((event) => String((event['eventBridge'] as Json)['name'])),
    );
    const sourceArns = JSON.stringify(fromEvents?.Condition?.['ArnEquals']?.['aws:SourceArn']);
    for (const name of ruleNames) {
      const ruleName = /^\$\{self:custom\.ruleNames\.(\w+)\}$/.exec(name)?.[1];
      expect(ruleName, `rule name ${name} comes from custom.ruleNames`).toBeDefined();
      expect(sourceArns).toContain(`:rule/\${self:custom.ruleNames.${ruleName}}`);
    }
    expect(outputs['DeadLetterQueueUrl']?.['Value']).toEqual({ Ref: 'DeadLetterQueue' });
  });

  it('alarms on dead letters and on errors of each function', () => {
    const alarms = Object.values(resources).filter(
      (resource) => resource['Type'] === 'AWS::CloudWatch::Alarm',
    );
    const dimensions = alarms.map((alarm) => JSON.stringify((alarm['Properties'] as Json)['Dimensions']));
    expect(dimensions.some((d) => d.includes('DeadLetterQueue'))).toBe(true);
    for (const name of Object.keys(functions)) {
      expect(
        dimensions.some((d) => d.includes(`"Ref":"${lambdaLogicalId(name)}"`)),
        name,
      ).toBe(true);
    }
  });
});

describe('queue delivery (param delivery, infra/delivery.cjs)', () => {
  const delivery = createRequire(import.meta.url)(join(ROOT, 'infra/delivery.cjs')) as ((input: {
    resolveVariable: (name: string) => Promise<unknown>;
  }) => Promise<{ Resources: Record<string, Json>; extensions?: Record<string, Json> }>) & {
    QUEUED_FUNCTIONS: Record<string, { queue: string; rule: string }>;
    VISIBILITY_TIMEOUT_SECONDS: number;
  };
  const ruleNames = custom['ruleNames'] as Record<string, string>;
  /** A rule's name as deployed to stage dev. */
  const deployedRuleName = (rule: string) =>
    ruleNames[rule]!.replace(`\${self:service}`, 'spot-handoff').replace(`\${sls:stage}`, 'dev');
  /** The fragment osls merges, with the params given (`self:` and `sls:` resolved for stage dev). */
  const build = (values: Json = {}) =>
    delivery({
      resolveVariable: async (name) => {
        const param = /^param:(\w+)$/.exec(name)?.[1];
        if (param) return { ...params, ...values }[param];
        const rule = /^self:custom\.ruleNames\.(\w+)$/.exec(name)?.[1];
        if (rule) return deployedRuleName(rule);
        throw new Error(`unexpected variable ${name}`);
      },
    });

  it('is on by default, included in the resources, and covers the interruption and state-change functions', () => {
    expect(params['delivery']).toBe('queue');
    expect(serverless['resources']).toContain(`\${file(infra/delivery.cjs)}`);
    expect(Object.keys(delivery.QUEUED_FUNCTIONS).sort()).toEqual(['interruption', 'state-change']);
    for (const name of Object.keys(delivery.QUEUED_FUNCTIONS)) expect(eventFunctions).toHaveProperty(name);
  });

  it('feeds each function from its own encrypted queue, redriven to the DLQ, in batches with partial failures', async () => {
    // Act
    const { Resources } = await build();

    // Assess
    for (const [name, { queue }] of Object.entries(delivery.QUEUED_FUNCTIONS)) {
      expect(Resources[queue]).toMatchObject({
        Type: 'AWS::SQS::Queue',
        Properties: {
          SqsManagedSseEnabled: true,
          RedrivePolicy: { deadLetterTargetArn: DLQ_ARN, maxReceiveCount: expect.any(Number) },
        },
      });
      const visibility = (Resources[queue]!['Properties'] as Json)['VisibilityTimeout'] as number;
      expect(visibility).toBeGreaterThanOrEqual(Number(provider['timeout']));
      expect(Resources[`${queue}EventSourceMapping`]).toMatchObject({
        Type: 'AWS::Lambda::EventSourceMapping',
        Properties: {
          FunctionName: { Ref: lambdaLogicalId(name) },
          EventSourceArn: { 'Fn::GetAtt': [queue, 'Arn'] },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ScalingConfig: { MaximumConcurrency: expect.any(Number) },
        },
      });
    }
  });

  it("retargets each function's rule to its queue, with the rule's retry policy and DLQ, and lets only that rule send", async () => {
    // Act
    const { Resources, extensions } = await build();

    // Assess
    const targets = Object.values(extensions ?? {}).map(
      (extension) => ((extension['Properties'] as Json)['Targets'] as Json[])[0]!,
    );
    for (const [name, { queue, rule }] of Object.entries(delivery.QUEUED_FUNCTIONS)) {
      expect(targets, name).toContainEqual(
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [queue, 'Arn'] },
          RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 185 },
          DeadLetterConfig: { Arn: DLQ_ARN },
        }),
      );
      const policy = (Resources[`${queue}Policy`]!['Properties'] as Json)['PolicyDocument'] as {
        Statement: Statement[];
      };
      expect(policy.Statement).toHaveLength(1);
      expect(policy.Statement[0]).toMatchObject({ Effect: 'Allow', Action: 'sqs:SendMessage' });
      const source = JSON.stringify(policy.Statement[0]!.Condition?.['ArnEquals']?.['aws:SourceArn']);
      expect(source).toContain(`:rule/${deployedRuleName(rule)}"`);
    }
  });

  it('lets the functions consume their queues only', async () => {
    // Act
    const { Resources } = await build();

    // Assess
    const statement = (
      (Resources['EventQueuesConsumerPolicy']!['Properties'] as Json)['PolicyDocument'] as {
        Statement: Statement[];
      }
    ).Statement;
    expect(statement).toHaveLength(1);
    expect(list(statement[0]!.Action).sort()).toEqual([
      'sqs:ChangeMessageVisibility',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
    ]);
    expect(statement[0]!.Resource).toEqual(
      Object.values(delivery.QUEUED_FUNCTIONS).map(({ queue }) => ({ 'Fn::GetAtt': [queue, 'Arn'] })),
    );
  });

  it("tells each queued function its queue's maximum concurrency, so its containers together spend one budget", async () => {
    const apiBudget = createRequire(import.meta.url)(join(ROOT, 'infra/api-budget.cjs')) as (input: {
      resolveVariable: (name: string) => Promise<unknown>;
    }) => Promise<string>;
    const concurrency = (delivery: string) => apiBudget({ resolveVariable: async () => delivery });
    const { QUEUE_SOURCE } = delivery as unknown as { QUEUE_SOURCE: { maximumConcurrency: number } };
    expect(await concurrency('queue')).toBe(String(QUEUE_SOURCE.maximumConcurrency));
    expect(await concurrency('direct')).toBe('2');
    expect(custom['apiBudgetConcurrency']).toBe(`\${file(infra/api-budget.cjs)}`);
    for (const name of Object.keys(delivery.QUEUED_FUNCTIONS)) {
      const environment = functions[name]!['environment'] as Record<string, string>;
      expect(environment['HANDOFF_API_BUDGET_CONCURRENCY']).toBe(`\${self:custom.apiBudgetConcurrency}`);
    }
  });

  it('adds nothing with delivery direct (the rules invoke the functions), and refuses any other value', async () => {
    expect(await build({ delivery: 'direct' })).toEqual({ Resources: {} });
    await expect(build({ delivery: 'sqs' })).rejects.toThrow(
      'Param delivery "sqs" is not valid: use queue or direct.',
    );
  });
});

describe('state table', () => {
  it('is on demand, keyed by pk, with the sparse open-workflows index, PITR, TTL on expiresAt, SSE, and retained', () => {
    const table = resources['StateTable']!;
    expect(table['Type']).toBe('AWS::DynamoDB::Table');
    expect(table['DeletionPolicy']).toBe('Retain');
    expect(table['UpdateReplacePolicy']).toBe('Retain');
    expect(props('StateTable')).toMatchObject({
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'openPartition', AttributeType: 'S' },
        { AttributeName: 'openSince', AttributeType: 'S' },
      ],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'open-workflows',
          KeySchema: [
            { AttributeName: 'openPartition', KeyType: 'HASH' },
            { AttributeName: 'openSince', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    expect(outputs['StateTableName']?.['Value']).toEqual({ Ref: 'StateTable' });
  });
});

describe('environment', () => {
  const environment = provider['environment'] as Record<string, unknown>;
  /** The environment the functions get with the default params. */
  const resolved = Object.fromEntries(
    Object.entries(environment).map(([name, value]) => {
      if (typeof value !== 'string') return [name, 'resolved-by-cloudformation'];
      return [name, value.replace(/\$\{param:(\w+)\}/g, (_, key: string) => String(params[key]))];
    }),
  ) as Record<string, string>;

  it('sets every variable the functions read', () => {
    expect(environment['HANDOFF_TABLE_NAME']).toEqual({ Ref: 'StateTable' });
    expect(resolved).toMatchObject({
      HANDOFF_MANAGED_TAG_KEY: 'spot-handoff:managed',
      HANDOFF_STATEFUL_TAG_KEY: 'spot-handoff:stateful',
      HANDOFF_REBALANCE_ACTION: 'prelaunch',
      HANDOFF_RETENTION_DAYS: '30',
      POWERTOOLS_SERVICE_NAME: 'spot-handoff',
      POWERTOOLS_METRICS_NAMESPACE: 'SpotHandoff',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(Number(resolved['AWS_MAX_ATTEMPTS'])).toBeGreaterThan(1);
    expect(Object.values(resolved).join(' ')).not.toContain('${');
  });

  it('has defaults the configuration reader accepts and agrees with', () => {
    // Act
    const config = readConfig(resolved);
    const builtIn = readConfig({ HANDOFF_TABLE_NAME: 'resolved-by-cloudformation' });

    // Assess
    expect(config).toEqual(builtIn);
  });

  it('passes each param the configuration reader checks at packaging to the variable it reads', () => {
    // Prepare
    const { READ_BY_FUNCTIONS } = createRequire(import.meta.url)(join(ROOT, 'infra/params.cjs')) as {
      READ_BY_FUNCTIONS: Record<string, string>;
    };

    // Assess
    expect(Object.keys(READ_BY_FUNCTIONS).length).toBeGreaterThan(0);
    for (const [param, variable] of Object.entries(READ_BY_FUNCTIONS)) {
      expect(environment[variable], variable).toBe(`\${param:${param}}`);
    }
    expect(custom['deploymentParams']).toBe(`\${file(infra/params.cjs)}`);
  });
});

describe('IAM', () => {
  // What the packaged role may do, statement by statement, is tested in test/unit/iam.test.ts.
  const resourceText = (statement: Statement) => JSON.stringify(statement.Resource);

  it('is read from infra/iam.cjs, with the params it needs declared', () => {
    expect((provider['iam'] as { role: Json }).role['statements']).toBe(`\${file(infra/iam.cjs)}`);
    for (const name of ['managedTagKey', 'statefulTagKey', 'instanceRoleArns', 'targetGroupArns']) {
      expect(params, name).toHaveProperty(name);
    }
    expect(params['instanceRoleArns']).toBe('');
    expect(params['targetGroupArns']).toBe('');
  });

  it('grants no wildcard actions', () => {
    for (const statement of statements) {
      for (const action of list(statement.Action)) expect(action, statement.Sid).not.toContain('*');
    }
  });

  it('grants "*" resources only to calls without resource-level permissions, or in denials', () => {
    for (const statement of statements.filter((s) => resourceText(s).includes('"*"'))) {
      if (statement.Effect === 'Deny') continue;
      for (const action of list(statement.Action))
        expect(action, statement.Sid).toMatch(
          /^[a-z0-9-]+:Describe|^ec2:(GetSpotPlacementScores|GetInstanceTypesFromInstanceRequirements)$/,
        );
    }
  });

  it('launches only instances tagged managed', () => {
    const launches = statements.filter(
      (s) => list(s.Action).includes('ec2:RunInstances') && resourceText(s).includes(':instance/'),
    );
    expect(launches).toHaveLength(1);
    expect(launches[0]?.Condition).toEqual({ StringEquals: { [`aws:RequestTag/${MANAGED}`]: 'true' } });
  });

  it('uses the configured managed and stateful tag keys in conditions', () => {
    const custom = JSON.stringify(iam.statements('team:spot', { statefulTagKey: 'team:stateful' }));
    expect(custom).toContain('"aws:ResourceTag/team:spot"');
    expect(custom).toContain('"aws:RequestTag/team:spot"');
    expect(custom).toContain('"team:stateful"');
    expect(custom).not.toContain(MANAGED);
    expect(custom).not.toContain('spot-handoff:stateful');
    expect(custom).not.toMatch(/\{\w+\}/);
    expect(() => iam.statements('aws:reserved')).toThrow();
  });

  it('reaches the table and the DLQ only', () => {
    const dynamo = statements.filter((s) => list(s.Action).some((a) => a.startsWith('dynamodb:')));
    expect(dynamo.map((s) => s.Resource)).toEqual([
      { 'Fn::GetAtt': ['StateTable', 'Arn'] },
      { 'Fn::Sub': `\${StateTable.Arn}/index/open-workflows` },
    ]);
    expect(dynamo[1]!.Action).toBe('dynamodb:Query');
    expect(list(dynamo[0]!.Action).sort()).toEqual(
      [
        'dynamodb:BatchGetItem',
        'dynamodb:BatchWriteItem',
        'dynamodb:GetItem',
        'dynamodb:PutItem',
        'dynamodb:Query',
        'dynamodb:Scan',
        'dynamodb:UpdateItem',
      ].sort(),
    );
    const sqs = statements.filter((s) => list(s.Action).some((a) => a.startsWith('sqs:')));
    expect(sqs.map((s) => [s.Action, s.Resource])).toEqual([['sqs:SendMessage', DLQ_ARN]]);
  });

  it('registers and deregisters targets in target groups only', () => {
    const moves = statements.filter((s) => list(s.Action).includes('elasticloadbalancing:RegisterTargets'));
    expect(moves).toHaveLength(1);
    expect(list(moves[0]!.Action).sort()).toEqual([
      'elasticloadbalancing:DeregisterTargets',
      'elasticloadbalancing:RegisterTargets',
    ]);
    expect(resourceText(moves[0]!)).toContain(':targetgroup/');
  });
});
