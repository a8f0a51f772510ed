/**
 * What a deployment gives its operators, read from what `serverless package` writes: the alarms and
 * whom they notify, the dashboard, the SNS topics, the game-day FIS template, and the deployment
 * parameters checked before anything is built. The packaging runs once per setting in `beforeAll`
 * (osls, offline); the alarms are then evaluated against metric streams the way CloudWatch does.
 */

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(import.meta.url);

type Json = Record<string, unknown>;
interface Template {
  Conditions: Record<string, unknown>;
  Resources: Record<string, { Type: string; Condition?: string; Properties: Json }>;
  Outputs: Record<string, Json>;
}
interface Metric {
  name: string;
  unit: string;
  planned?: boolean;
}

const catalog = require(join(ROOT, 'infra/metrics.cjs')) as {
  NAMESPACE: string;
  DIMENSIONS: Record<string, string>;
  METRICS: Metric[];
};
const params = require(join(ROOT, 'infra/params.cjs')) as {
  problems(input: {
    values: Json;
    given?: string[];
    service: string;
    stage: string;
    region: string;
  }): string[];
  RULES: Record<string, unknown>;
};
const { MAX_INSTANCES_PER_ACTION } = require(join(ROOT, 'infra/game-day.cjs')) as {
  MAX_INSTANCES_PER_ACTION: number;
};
const defaults = (parse(readFileSync(join(ROOT, 'serverless.yml'), 'utf8')) as { params: { default: Json } })
  .params.default;

// --- Running osls -------------------------------------------------------------------------------

interface Run {
  code: number;
  output: string;
}

/** `serverless <args>` in the repository, offline; resolves with its exit code and output. */
function serverless(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'node_modules/osls/bin/serverless.js'), ...args],
      {
        cwd: ROOT,
        env: { ...process.env, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off', CI: 'true' },
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}\n${stderr}` }),
    );
  });
}

const GAME_DAY = [
  'gameDay=true',
  'gameDayGroup=web',
  'gameDayInstances=3',
  'gameDayDurationBeforeInterruption=PT5M',
];
const EMAIL = 'ops@example.com';
const withParams = (list: string[]) => list.flatMap((param) => ['--param', param]);

let outDir: string;
/** Packaged for stage `ci` in eu-west-1, with the game day on and a paging e-mail address. */
let packaged: Template;
let packagedState: { service: { provider: { stage: string; region: string } } };
/** `serverless print` with every default: resources as osls resolves them, before compilation. */
let printedDefaults: { resources: Template };
let refused: Run;

beforeAll(async () => {
  outDir = mkdtempSync(join(tmpdir(), 'spot-handoff-operations-'));
  const [pack, print, bad] = await Promise.all([
    serverless([
      'package',
      '--stage',
      'ci',
      '--region',
      'eu-west-1',
      '--package',
      outDir,
      ...withParams([...GAME_DAY, `alarmEmail=${EMAIL}`]),
    ]),
    serverless(['print', '--format', 'json']),
    serverless([
      'package',
      ...withParams(['rebalanceAction=bogus', 'retentionDays=0', 'gameDayInstances=6', 'retentionDay=5']),
    ]),
  ]);
  if (pack.code !== 0) throw new Error(`serverless package failed:\n${pack.output}`);
  if (print.code !== 0) throw new Error(`serverless print failed:\n${print.output}`);
  packaged = JSON.parse(readFileSync(join(outDir, 'cloudformation-template-update-stack.json'), 'utf8'));
  packagedState = JSON.parse(readFileSync(join(outDir, 'serverless-state.json'), 'utf8'));
  printedDefaults = JSON.parse(
    print.output.slice(print.output.indexOf('{'), print.output.lastIndexOf('}') + 1),
  );
  refused = bad;
}, 600_000);

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

// --- Reading CloudFormation ---------------------------------------------------------------------

/** The logical id an intrinsic refers to (`Ref`, `Fn::GetAtt`), or a literal as it is. */
function target(value: unknown): string {
  if (typeof value === 'string') return value;
  const node = value as Json;
  if (typeof node['Ref'] === 'string') return node['Ref'];
  const getAtt = node['Fn::GetAtt'] as string[] | undefined;
  if (getAtt) return getAtt[0]!;
  throw new Error(`not a literal or a reference: ${JSON.stringify(value)}`);
}

/** Evaluates a condition whose operands osls has resolved to literals. */
function holds(template: Template, condition: unknown): boolean {
  const node = condition as Json;
  if (typeof node['Condition'] === 'string') return holds(template, template.Conditions[node['Condition']]);
  if (node['Fn::Not']) return !holds(template, (node['Fn::Not'] as unknown[])[0]);
  if (node['Fn::And']) return (node['Fn::And'] as unknown[]).every((c) => holds(template, c));
  if (node['Fn::Or']) return (node['Fn::Or'] as unknown[]).some((c) => holds(template, c));
  const equals = node['Fn::Equals'] as unknown[] | undefined;
  if (equals) {
    const [left, right] = equals.map((operand) => {
      if (typeof operand !== 'string') throw new Error(`unresolved operand ${JSON.stringify(operand)}`);
      return operand;
    });
    return left === right;
  }
  throw new Error(`unknown condition ${JSON.stringify(condition)}`);
}
/** Whether CloudFormation creates the resource. */
const created = (template: Template, logicalId: string) => {
  const condition = template.Resources[logicalId]?.Condition;
  return (
    template.Resources[logicalId] !== undefined && (!condition || holds(template, { Condition: condition }))
  );
};

/** Every `Ref`, `Fn::GetAtt` and condition name used anywhere in `node`. */
function references(node: unknown, found = { refs: new Set<string>(), conditions: new Set<string>() }) {
  if (Array.isArray(node)) for (const item of node) references(item, found);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'Ref' && typeof value === 'string') found.refs.add(value);
      else if (key === 'Fn::GetAtt') found.refs.add((value as string[])[0]!);
      else if (key === 'Fn::If') found.conditions.add((value as string[])[0]!);
      else if (key === 'Condition' && typeof value === 'string') found.conditions.add(value);
      references(value, found);
    }
  }
  return found;
}

const resourcesOfType = (template: Template, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
const alarms = (template: Template) =>
  Object.fromEntries(resourcesOfType(template, 'AWS::CloudWatch::Alarm'));

/** The topics an alarm notifies on ALARM, by logical id (AWS::NoValue entries dropped). */
function notified(template: Template, alarm: Json): string[] {
  return (alarm['AlarmActions'] as unknown[]).flatMap((action) => {
    const node = action as Json;
    const choice = node['Fn::If'] as [string, unknown, unknown] | undefined;
    const chosen = choice ? (holds(template, { Condition: choice[0] }) ? choice[1] : choice[2]) : action;
    if ((chosen as Json)['Ref'] === 'AWS::NoValue') return [];
    return [target(chosen)];
  });
}

// --- Evaluating alarms the way CloudWatch does ---------------------------------------------------

/** One metric's values, minute by minute (index = minute), keyed like {@link metricKey}. */
type Stream = Record<string, (number | undefined)[]>;
const metricKey = (namespace: string, name: string, dimension: string) => `${namespace} ${name} ${dimension}`;

/** Whether the alarm reaches ALARM at any time over the streams (missing data not breaching). */
function fires(alarm: Json, streams: Stream): boolean {
  const dimensions = alarm['Dimensions'] as { Value: unknown }[];
  const key = metricKey(
    String(alarm['Namespace']),
    String(alarm['MetricName']),
    target(dimensions[0]!.Value),
  );
  const minutes = streams[key] ?? [];
  const periodMinutes = Number(alarm['Period']) / 60;
  const periods: (number | undefined)[] = [];
  for (let start = 0; start < minutes.length; start += periodMinutes) {
    const values = minutes.slice(start, start + periodMinutes).filter((v): v is number => v !== undefined);
    if (values.length === 0) periods.push(undefined);
    else if (alarm['Statistic'] === 'Sum') periods.push(values.reduce((a, b) => a + b, 0));
    else if (alarm['Statistic'] === 'Maximum') periods.push(Math.max(...values));
    else throw new Error(`statistic ${String(alarm['Statistic'])} not modelled`);
  }
  const threshold = Number(alarm['Threshold']);
  const breaching = (value: number | undefined) => {
    if (value === undefined) return false;
    if (alarm['ComparisonOperator'] === 'GreaterThanThreshold') return value > threshold;
    if (alarm['ComparisonOperator'] === 'GreaterThanOrEqualToThreshold') return value >= threshold;
    throw new Error(`comparison ${String(alarm['ComparisonOperator'])} not modelled`);
  };
  expect(alarm['TreatMissingData']).toBe('notBreaching');
  const evaluated = Number(alarm['EvaluationPeriods']);
  const needed = Number(alarm['DatapointsToAlarm'] ?? evaluated);
  return periods.some(
    (_, end) =>
      end + 1 >= evaluated && periods.slice(end + 1 - evaluated, end + 1).filter(breaching).length >= needed,
  );
}

/** Per-minute values over `length` minutes: `at` maps minutes to values, the rest is missing. */
function minutes(length: number, at: Record<number, number>): (number | undefined)[] {
  return Array.from({ length }, (_, minute) => at[minute]);
}

/** A value for each of the minutes `from` to `to` (inclusive). */
function every(from: number, to: number, value: number): Record<number, number> {
  return Object.fromEntries(Array.from({ length: to - from + 1 }, (_, i) => [from + i, value]));
}

const ours = (name: string) => metricKey('SpotHandoff', name, 'spot-handoff');
const lambda = (name: string, logicalId: string) => metricKey('AWS/Lambda', name, logicalId);
const DEAD_LETTERS = metricKey('AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'DeadLetterQueue');

/**
 * A healthy mass reclaim starting at `start`: 500 warnings within a minute; the event functions'
 * throttled invocations fail and Lambda retries them after 1 and 2 more minutes; the sweep is
 * throttled twice; every handoff completes, none late, nothing in the dead-letter queue.
 */
function healthyMassReclaim(start: number): Stream {
  const length = start + 30;
  const at = (offsets: Record<number, number>) =>
    minutes(length, Object.fromEntries(Object.entries(offsets).map(([m, v]) => [start + Number(m), v])));
  return {
    [ours('InterruptionWarnings')]: at({ 0: 500 }),
    [ours('WorkflowsStarted')]: at({ 0: 500 }),
    [ours('WorkflowsCompleted')]: at({ 1: 200, 2: 250, 3: 50 }),
    [ours('WorkflowsFailed')]: at({}),
    [ours('DrainsLate')]: at({}),
    [ours('OverdueWorkflows')]: minutes(length, every(0, length - 1, 0)),
    [lambda('Errors', 'InterruptionLambdaFunction')]: at({ 0: 8, 1: 6, 3: 2 }),
    [lambda('Throttles', 'InterruptionLambdaFunction')]: at({ 0: 40, 1: 10 }),
    [lambda('Errors', 'StateDashchangeLambdaFunction')]: at({ 2: 30, 3: 12, 5: 1 }),
    [lambda('Errors', 'SweeperLambdaFunction')]: at({ 1: 1, 2: 1 }),
    [DEAD_LETTERS]: minutes(length, every(0, length - 1, 0)),
  };
}

const PAGES = [
  'HandoffFailedAlarm',
  'DrainLateAlarm',
  'OverdueWorkflowsAlarm',
  'DeadLetterQueueAlarm',
  'SweeperFailingAlarm',
];
const NOTICES = [
  'MassReclaimAlarm',
  'InterruptionErrorsAlarm',
  'StateChangeErrorsAlarm',
  'HealingErrorsAlarm',
  'HealingSuspendedAlarm',
];

// --- The tests -----------------------------------------------------------------------------------

describe('alarms', () => {
  it('pages on a failed handoff, a late drain, overdue workflows, dead letters and a failing sweep; notifies of a mass reclaim and of function errors', () => {
    // Assess
    const all = alarms(packaged);
    expect(Object.keys(all).sort()).toEqual([...PAGES, ...NOTICES].sort());
    for (const id of PAGES) {
      expect(notified(packaged, all[id]!.Properties), id).toEqual(['AlarmTopic']);
      expect(String(all[id]!.Properties['AlarmDescription']), id).toMatch(/^\[page\] spot-handoff \(ci\)/);
      expect(all[id]!.Properties['OKActions'], id).toEqual(all[id]!.Properties['AlarmActions']);
    }
    for (const id of NOTICES) {
      expect(notified(packaged, all[id]!.Properties), id).toEqual(['NoticeTopic']);
      expect(String(all[id]!.Properties['AlarmDescription']), id).toMatch(/^\[info\] spot-handoff \(ci\)/);
    }
    expect(all['MassReclaimAlarm']!.Properties['Threshold']).toBe(defaults['massReclaimWarningsPerMinute']);
  });

  it('watches only metrics of infra/metrics.cjs, with the dimension the functions publish', () => {
    for (const [id, { Properties }] of Object.entries(alarms(packaged))) {
      if (Properties['Namespace'] !== catalog.NAMESPACE) continue;
      expect(
        catalog.METRICS.map((m) => m.name),
        id,
      ).toContain(Properties['MetricName']);
      expect(Properties['Dimensions'], id).toEqual(
        Object.entries(catalog.DIMENSIONS).map(([Name, Value]) => ({ Name, Value })),
      );
    }
  });

  it.each([0, 1, 2, 3, 4])(
    'pages no one on a healthy mass reclaim starting at minute %i, and notifies of it',
    (start) => {
      // Prepare
      const streams = healthyMassReclaim(start);

      // Act
      const fired = Object.entries(alarms(packaged))
        .filter(([, alarm]) => fires(alarm.Properties, streams))
        .map(([id]) => id);

      // Assess
      expect(fired).toEqual(['MassReclaimAlarm']);
    },
  );

  it.each<[string, (streams: Stream) => void, string[]]>([
    ['a failed handoff', (s) => (s[ours('WorkflowsFailed')]![12] = 1), ['HandoffFailedAlarm']],
    ['a late drain', (s) => (s[ours('DrainsLate')]![4] = 3), ['DrainLateAlarm']],
    [
      'a workflow overdue for 3 sweeps',
      (s) => {
        for (const m of [6, 7, 8]) s[ours('OverdueWorkflows')]![m] = 1;
      },
      ['OverdueWorkflowsAlarm'],
    ],
    ['an event in the dead-letter queue', (s) => (s[DEAD_LETTERS]![9] = 1), ['DeadLetterQueueAlarm']],
    [
      'a sweep failing for 10 minutes',
      (s) => {
        for (let m = 10; m < 20; m++) s[lambda('Errors', 'SweeperLambdaFunction')]![m] = 1;
      },
      ['SweeperFailingAlarm'],
    ],
    [
      'an event function failing for 15 minutes (a notice, not a page)',
      (s) => {
        for (let m = 10; m < 25; m++) s[lambda('Errors', 'InterruptionLambdaFunction')]![m] = 1;
      },
      ['InterruptionErrorsAlarm'],
    ],
  ])('raises the right alarm on %s during a mass reclaim', (_, fault, expected) => {
    // Prepare
    const streams = healthyMassReclaim(0);
    fault(streams);

    // Act
    const fired = Object.entries(alarms(packaged))
      .filter(([, alarm]) => fires(alarm.Properties, streams))
      .map(([id]) => id);

    // Assess
    expect(fired.sort()).toEqual(['MassReclaimAlarm', ...expected].sort());
  });
});

describe('notifications', () => {
  it('has a topic for pages and one for notices, with an e-mail subscription only where an address is given', () => {
    // Assess: packaged with alarmEmail only
    expect(created(packaged, 'AlarmTopic')).toBe(true);
    expect(created(packaged, 'NoticeTopic')).toBe(true);
    const subscriptions = resourcesOfType(packaged, 'AWS::SNS::Subscription');
    expect(subscriptions.filter(([id]) => created(packaged, id)).map(([, s]) => s.Properties)).toEqual([
      { TopicArn: { Ref: 'AlarmTopic' }, Protocol: 'email', Endpoint: EMAIL },
    ]);
    expect(packaged.Outputs['AlarmTopicArn']?.['Value']).toEqual({ Ref: 'AlarmTopic' });
    expect(packaged.Outputs['NoticeTopicArn']?.['Value']).toEqual({ Ref: 'NoticeTopic' });

    // Assess: the defaults subscribe nothing
    const defaultSubscriptions = resourcesOfType(printedDefaults.resources, 'AWS::SNS::Subscription');
    expect(defaultSubscriptions.length).toBe(2);
    for (const [id] of defaultSubscriptions) expect(created(printedDefaults.resources, id), id).toBe(false);
  });
});

describe('dashboard', () => {
  /** The body with every intrinsic replaced by the logical id it names, parsed. */
  const body = () => {
    const joined = packaged.Resources['Dashboard']!.Properties['DashboardBody'] as {
      'Fn::Join': [string, unknown[]];
    };
    return JSON.parse(joined['Fn::Join'][1].map(target).join('')) as {
      widgets: { type: string; properties: { metrics?: unknown[][]; alarms?: string[] } }[];
    };
  };

  it('is valid JSON showing every metric of infra/metrics.cjs with its dimension', () => {
    // Act
    const shown = body()
      .widgets.flatMap((widget) => widget.properties.metrics ?? [])
      .filter((line) => line[0] === catalog.NAMESPACE);

    // Assess
    for (const line of shown) {
      expect(
        catalog.METRICS.map((m) => m.name),
        String(line[1]),
      ).toContain(line[1]);
      expect(line.slice(2, -1)).toEqual(Object.entries(catalog.DIMENSIONS).flat());
    }
    expect(new Set(shown.map((line) => line[1]))).toEqual(new Set(catalog.METRICS.map((m) => m.name)));
    // A dashboard of up to 50 metrics is one of an account's free ones; this one shows more (the
    // README's cost section counts it at $3 a month), and stays within one dashboard's 500.
    expect(body().widgets.flatMap((widget) => widget.properties.metrics ?? []).length).toBeLessThanOrEqual(
      100,
    );
  });

  it("shows every alarm, the dead-letter queue, and each function's errors, throttles, invocations and duration", () => {
    // Prepare
    const { widgets } = body();
    const lines = widgets.flatMap((widget) => widget.properties.metrics ?? []);
    const functions = resourcesOfType(packaged, 'AWS::Lambda::Function').map(([id]) => id);

    // Assess
    expect(widgets.find((w) => w.type === 'alarm')?.properties.alarms?.sort()).toEqual(
      Object.keys(alarms(packaged)).sort(),
    );
    expect(lines).toContainEqual(
      expect.arrayContaining(['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'DeadLetterQueue']),
    );
    expect(functions.length).toBe(4);
    for (const fn of functions) {
      for (const metric of ['Errors', 'Throttles', 'Invocations', 'Duration']) {
        expect(lines, `${fn} ${metric}`).toContainEqual(
          expect.arrayContaining(['AWS/Lambda', metric, 'FunctionName', fn]),
        );
      }
    }
  });
});

describe('game day', () => {
  const resource = (id: string) => packaged.Resources[id]!;

  it('interrupts at most 5 running managed Spot instances of the chosen group, the warning ahead as configured', () => {
    // Assess
    expect(created(packaged, 'GameDayExperimentTemplate')).toBe(true);
    const template = resource('GameDayExperimentTemplate').Properties as {
      Targets: Record<string, Json>;
      Actions: Record<string, Json>;
    };
    const actions = Object.values(template.Actions);
    expect(actions.length).toBeGreaterThan(0);
    for (const action of actions) {
      expect(action['ActionId']).toBe('aws:ec2:send-spot-instance-interruptions');
      expect(action['Parameters']).toEqual({ durationBeforeInterruption: 'PT5M' });
      const targetName = (action['Targets'] as Json)['SpotInstances'] as string;
      const targeted = template.Targets[targetName]!;
      expect(targeted['ResourceType']).toBe('aws:ec2:spot-instance');
      expect(targeted['ResourceTags']).toEqual({
        'spot-handoff:managed': 'true',
        'spot-handoff:group': 'web',
      });
      expect(targeted['Filters']).toEqual([{ Path: 'State.Name', Values: ['running'] }]);
      const count = Number(/^COUNT\((\d+)\)$/.exec(String(targeted['SelectionMode']))?.[1]);
      expect(count).toBe(3);
      expect(count).toBeLessThanOrEqual(5);
    }
  });

  it('stops when a handoff fails, and runs as a role that may only interrupt those instances', () => {
    // Assess
    const properties = resource('GameDayExperimentTemplate').Properties;
    expect(properties['StopConditions']).toContainEqual({
      Source: 'aws:cloudwatch:alarm',
      Value: { 'Fn::GetAtt': ['HandoffFailedAlarm', 'Arn'] },
    });
    expect(properties['RoleArn']).toEqual({ 'Fn::GetAtt': ['GameDayRole', 'Arn'] });
    const role = resource('GameDayRole').Properties as {
      AssumeRolePolicyDocument: { Statement: Json[] };
      Policies: { PolicyDocument: { Statement: Json[] } }[];
      ManagedPolicyArns?: unknown;
    };
    expect(role.AssumeRolePolicyDocument.Statement.map((s) => s['Principal'])).toEqual([
      { Service: 'fis.amazonaws.com' },
    ]);
    expect(role.ManagedPolicyArns).toBeUndefined();
    const statements = role.Policies.flatMap((policy) => policy.PolicyDocument.Statement);
    const mutations = statements.filter((s) => !String(s['Action']).startsWith('ec2:Describe'));
    expect(mutations.map((s) => [s['Action'], s['Condition']])).toEqual([
      [
        'ec2:SendSpotInstanceInterruptions',
        {
          StringEquals: {
            'aws:ResourceTag/spot-handoff:managed': 'true',
            'aws:ResourceTag/spot-handoff:group': 'web',
          },
        },
      ],
    ]);
    expect(JSON.stringify(mutations[0]!['Resource'])).toContain(':instance/*');
  });

  it('is created only when gameDay is true', () => {
    // Assess
    const fis = resourcesOfType(printedDefaults.resources, 'AWS::FIS::ExperimentTemplate');
    expect(fis.length).toBe(1);
    for (const id of [fis[0]![0], 'GameDayRole'])
      expect(created(printedDefaults.resources, id), id).toBe(false);
  });
});

describe('the packaged template', () => {
  it('refers only to resources, parameters and conditions it has', () => {
    // Act
    const { refs, conditions } = references(packaged);

    // Assess
    for (const ref of refs) {
      if (ref.startsWith('AWS::')) continue;
      expect(Object.keys(packaged.Resources), ref).toContain(ref);
    }
    for (const condition of conditions)
      expect(Object.keys(packaged.Conditions), condition).toContain(condition);
  });

  it('is built for the stage and Region given to npm run package', () => {
    expect(packagedState.service.provider).toMatchObject({ stage: 'ci', region: 'eu-west-1' });
    expect(String(alarms(packaged)['HandoffFailedAlarm']!.Properties['AlarmName'])).toBe(
      'spot-handoff-ci-handoff-failed',
    );
  });
});

describe('deployment parameters', () => {
  const check = (overrides: Json, context: { stage?: string; region?: string; given?: string[] } = {}) =>
    params.problems({
      values: { ...defaults, ...overrides },
      given: context.given ?? [],
      service: 'spot-handoff',
      stage: context.stage ?? 'dev',
      region: context.region ?? 'us-east-1',
    });

  it('accepts the defaults, and has a rule for exactly the params serverless.yml declares', () => {
    expect(check({})).toEqual([]);
    expect(Object.keys(params.RULES).sort()).toEqual(Object.keys(defaults).sort());
  });

  it.each<[string, Json, string]>([
    ['rebalanceAction', { rebalanceAction: 'bogus' }, 'use one of prelaunch, ignore, replace'],
    ['retentionDays', { retentionDays: '0' }, 'use a whole number from 1 to 3650'],
    ['handoverTimeoutSeconds', { handoverTimeoutSeconds: '30' }, 'from 60 to 86400'],
    ['attachWaitSeconds', { attachWaitSeconds: '41' }, 'from 0 to 40'],
    ['managedTagKey', { managedTagKey: 'aws:managed' }, 'not starting with "aws:"'],
    ['managedTagKey', { managedTagKey: '' }, 'may not be empty'],
    ['groupTagKey', { groupTagKey: 'aws:group' }, 'not starting with "aws:"'],
    ['logLevel', { logLevel: 'LOUD' }, 'use one of TRACE, DEBUG, INFO, WARN, ERROR'],
    ['logRetentionInDays', { logRetentionInDays: '2' }, 'use one of 1, 3, 5, 7, 14, 30'],
    ['awsMaxAttempts', { awsMaxAttempts: '0' }, 'from 1 to 10'],
    ['delivery', { delivery: 'sqs' }, 'use one of queue, direct'],
    ['replayEnabled', { replayEnabled: 'yes' }, 'use one of false, true'],
    ['alarmTopicArn', { alarmTopicArn: 'my-topic' }, 'the ARN of an SNS topic'],
    ['alarmEmail', { alarmEmail: 'ops' }, 'an e-mail address'],
    ['noticeEmail', { noticeEmail: 'ops@' }, 'an e-mail address'],
    ['massReclaimWarningsPerMinute', { massReclaimWarningsPerMinute: '1' }, 'from 2 to 10000'],
    ['gameDay', { gameDay: 'yes' }, 'use one of false, true'],
    ['gameDayGroup', { gameDay: 'true' }, 'name the group to interrupt'],
    ['gameDayInstances', { gameDayInstances: '6' }, `from 1 to ${MAX_INSTANCES_PER_ACTION}`],
    ['gameDayDurationBeforeInterruption', { gameDayDurationBeforeInterruption: 'PT1M' }, 'PT2M to PT15M'],
    ['gameDayDurationBeforeInterruption', { gameDayDurationBeforeInterruption: 'PT16M' }, 'PT2M to PT15M'],
  ])('refuses a bad %s, naming it, its value and what is allowed', (name, overrides, allowed) => {
    // Act
    const found = check(overrides);

    // Assess
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^${name}=`));
    expect(found[0]).toContain(JSON.stringify(String({ ...defaults, ...overrides }[name])));
    expect(found[0]).toContain(allowed);
  });

  it('accepts each value the rules allow at their edges', () => {
    for (const overrides of [
      { rebalanceAction: 'ignore' },
      { retentionDays: '3650', logRetentionInDays: '3653', awsMaxAttempts: '10' },
      {
        gameDay: 'true',
        gameDayGroup: 'web',
        gameDayInstances: '5',
        gameDayDurationBeforeInterruption: 'PT15M',
      },
      { alarmEmail: EMAIL, alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:pager' },
      { replayEnabled: 'true' },
      { delivery: 'direct' },
    ]) {
      expect(check(overrides), JSON.stringify(overrides)).toEqual([]);
    }
  });

  it('refuses a param serverless.yml does not declare, a Region that is none, and a stage too long for IAM', () => {
    expect(check({}, { given: ['retentionDay'] })).toEqual([
      expect.stringMatching(/^retentionDay: no such parameter; the parameters are .*retentionDays/),
    ]);
    expect(check({}, { region: 'mars-1' })).toEqual([
      expect.stringContaining('--region "mars-1": use an AWS Region code'),
    ]);
    expect(check({}, { stage: 'x'.repeat(30), region: 'ap-southeast-1' })).toEqual([
      expect.stringMatching(/^--stage "x{30}": .* use a stage of at most 25 characters\.$/),
    ]);
  });

  it('fails npm run package before building anything, naming every bad param with what it allows', () => {
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('4 deployment parameters are not valid');
    expect(refused.output).toContain(
      'rebalanceAction="bogus": HANDOFF_REBALANCE_ACTION="bogus" is not valid: use one of prelaunch, ignore, replace.',
    );
    expect(refused.output).toContain(
      'retentionDays="0": HANDOFF_RETENTION_DAYS="0" is not valid: use a whole number from 1 to 3650.',
    );
    expect(refused.output).toContain('gameDayInstances="6": use a whole number from 1 to 5.');
    expect(refused.output).toContain('retentionDay: no such parameter');
    expect(refused.output).not.toContain('Value not found');
    expect(refused.output).not.toMatch(/\n\s+at /);
  });
});

describe('metrics', () => {
  /** The names the code publishes: the core's `MetricName` union, and the ones the runtime adds. */
  const published = () => {
    const ports = readFileSync(join(ROOT, 'src/core/ports.ts'), 'utf8');
    const union = /export type MetricName =([^;]+);/.exec(ports)?.[1] ?? '';
    const runtime = readFileSync(join(ROOT, 'src/runtime/container.ts'), 'utf8');
    return new Set([
      ...[...union.matchAll(/'(\w+)'/g)].map((m) => m[1]!),
      ...[...runtime.matchAll(/addMetric\('(\w+)'/g)].map((m) => m[1]!),
    ]);
  };

  it('lists every metric the code publishes, and marks planned exactly those it does not publish yet', () => {
    // Act
    const code = published();

    // Assess
    expect(code.size).toBeGreaterThan(10);
    expect(code.has('HandoffSeconds')).toBe(true);
    for (const name of code) {
      expect(
        catalog.METRICS.map((m) => m.name),
        name,
      ).toContain(name);
    }
    for (const metric of catalog.METRICS) expect(code.has(metric.name), metric.name).toBe(!metric.planned);
  });

  it('are each named in the README, the ones not published yet among those it says so of', () => {
    // Prepare
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const notYet = /Not published yet, reserved[\s\S]*?\n\n/.exec(readme)?.[0] ?? '';

    // Assess
    for (const metric of catalog.METRICS) {
      expect(readme, metric.name).toContain(`\`${metric.name}\``);
      expect(notYet.includes(`\`${metric.name}\``), metric.name).toBe(metric.planned === true);
    }
  });

  it('gives durations in seconds and everything else as counts', () => {
    for (const metric of catalog.METRICS) {
      expect(metric.unit, metric.name).toBe(metric.name.endsWith('Seconds') ? 'Seconds' : 'Count');
    }
  });
});
