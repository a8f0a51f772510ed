import { readFile, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, type ExpectStatic, expect, it } from 'vitest';
import { LocalCloud } from '../../localcloud/index.ts';
import { createWebFleet, registerFleet, type WebFleet } from '../../localcloud/scenarios/web-fleet.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../../src/aws/workflow-store.ts';
import type { DemoResult } from '../../src/cli/demo.ts';
import type { ReplayResult } from '../../src/cli/replay.ts';
import type { WorkflowSummary } from '../../src/cli/summary.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';
import { handoff, jsonOf, REPO, type Run, scratchDir, userEnv, writeJson } from './support.ts';

/**
 * The `handoff` command as a user runs it: `node bin/handoff.js …` in a child process, judged by its
 * exit code, its output and, where it changes things, by what exists afterwards. Every run waits
 * for results, never for the clock: demos run with `--speed max` (local-cloud time moves only while
 * no handler runs), replays on a manual clock, so a loaded machine makes them slower, never wrong.
 */

const WARNING_FILE = 'events/spot-interruption-warning.json';
const RUNNING_FILE = 'events/state-change-running.json';

/** A usage error or a failure: exit `code`, nothing on stdout, one `handoff: …` line on stderr. */
function expectOneLineError(expect: ExpectStatic, run: Run, code: number, ...mentions: string[]): void {
  expect(run.code, run.stderr).toBe(code);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^handoff: [^\n]+\n$/);
  for (const mention of mentions) expect(run.stderr).toContain(mention);
}

describe('handoff demo', () => {
  it('--json: one JSON document saying the interrupted instance was replaced and the replacement serves', async () => {
    const run = await handoff(['demo', '--json', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const result = jsonOf<DemoResult>(run);
    expect(result.ok).toBe(true);
    expect(result.workflows).toHaveLength(1);
    expect(result.workflows[0]).toMatchObject({
      instanceId: result.interruptedInstanceId,
      status: 'completed',
      outcome: 'replaced',
    });
    expect(result.replacementIds).toHaveLength(1);
    const [replacement] = result.replacementIds;
    expect(result.workflows[0]!.replacementId).toBe(replacement);
    const serving = result.targetGroups[0]!.targets.map((t) => t.id);
    expect(serving).toContain(replacement);
    expect(serving).not.toContain(result.interruptedInstanceId);
    expect(result.oldInstance).toEqual({ instanceId: result.interruptedInstanceId, state: 'terminated' });
    expect(result.deadLetters).toBe(0);
  });

  it('prints the handoff as it happens: the warning, drain, launch, register, then Done', async () => {
    const run = await handoff(['demo', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const at = String.raw`^\+\s*\d+\.\ds\s+`;
    const warning = run.stdout.match(
      new RegExp(`${at}event\\s+EC2 Spot Instance Interruption Warning for (i-[0-9a-f]+)$`, 'm'),
    );
    expect(warning, run.stdout).not.toBeNull();
    expect(run.stdout).toMatch(new RegExp(`${at}drain\\s+done: `, 'm'));
    expect(run.stdout).toMatch(new RegExp(`${at}launch\\s+done: i-[0-9a-f]+ `, 'm'));
    expect(run.stdout).toMatch(new RegExp(`${at}register\\s+done: `, 'm'));
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toMatch(new RegExp(`^Done: wf-${warning![1]} completed \\(replaced\\)\\. `));
  });
});

describe('handoff demo --scenario stateful', () => {
  it('--json: every volume, interface, IP and Elastic IP is on the replacement, in the same AZ, registered after the handover', async () => {
    const run = await handoff(['demo', '--scenario', 'stateful', '--json', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<DemoResult>(run);
    expect(result.ok).toBe(true);
    const replacement = result.replacementIds[0];
    expect(result.stateful).toMatchObject({
      sameAvailabilityZone: true,
      volume: { attachedTo: replacement, device: '/dev/sdf' },
      networkInterface: { attachedTo: replacement, deviceIndex: 1 },
      secondaryPrivateIp: { heldBy: replacement },
      elasticIp: { associatedWith: replacement },
      registeredAfterHandover: true,
      allMoved: true,
    });
    expect(result.workflows[0]!.handover!.resources.map((r) => r.status)).toEqual([
      'attached',
      'attached',
      'attached',
      'attached',
    ]);
  });
});

describe('handoff demo --scenario unhealthy', () => {
  it('--json: the unhealthy instance is replaced carefully, in order, and the flapping alarm heals it once', async () => {
    const run = await handoff(['demo', '--scenario', 'unhealthy', '--json', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<DemoResult>(run);
    expect(result.ok).toBe(true);
    expect(result.unhealthy).toMatchObject({
      alarmStates: ['ALARM', 'OK', 'ALARM'],
      inOrder: true,
      healedInstances: [result.interruptedInstanceId],
      replacements: 1,
    });
    expect(result.unhealthy!.order.map((o) => o.step)).toEqual([
      'replacement launched',
      'replacement registered',
      'replacement healthy',
      'old instance drained',
      'old instance terminated',
    ]);
    const times = result.unhealthy!.order.map((o) => o.atSeconds);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(result.oldInstance.state).toBe('terminated');
    expect(result.replacementIds).toHaveLength(1);
    const targets = result.targetGroups[0]!.targets;
    expect(targets.map((t) => t.id)).toContain(result.replacementIds[0]);
    expect(targets.map((t) => t.id)).not.toContain(result.interruptedInstanceId);
    expect(targets.every((t) => t.state === 'healthy')).toBe(true);
    expect(result.workflows[0]).toMatchObject({ status: 'completed', outcome: 'replaced' });
  });
});

describe.concurrent('handoff replay (each run its own fresh local cloud with the demo fleet)', () => {
  it('--scenario stateful --dry-run --local: the plan protects the state and launches, and nothing is written', async ({
    expect,
  }) => {
    const run = await handoff([
      'replay',
      WARNING_FILE,
      '--scenario',
      'stateful',
      '--dry-run',
      '--local',
      '--json',
    ]);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    expect(result).toMatchObject({ target: 'local', dryRun: true });
    const plan = result.plan.map((p) => `${p.service} ${p.action} ${p.outcome}`);
    expect(plan).toEqual(
      expect.arrayContaining([
        'ec2 ModifyInstanceAttribute would-succeed',
        'ec2 CreateTags would-succeed',
        'ec2 RunInstances would-succeed',
        'elbv2 DeregisterTargets skipped',
        'dynamodb PutItem skipped',
      ]),
    );
    expect(result.plan.every((p) => p.outcome === 'would-succeed' || p.outcome === 'skipped')).toBe(true);
  });

  it('an interruption warning: the fleet instance it is pointed at is replaced, the event dated now', async ({
    expect,
  }) => {
    const startedAt = Math.floor(Date.now() / 1000) * 1000;

    const run = await handoff(['replay', WARNING_FILE, '--json']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    expect(result).toMatchObject({ ok: true, target: 'local', dryRun: false, functions: ['interruption'] });
    expect(result.workflows).toHaveLength(1);
    const [workflow] = result.workflows;
    expect(workflow).toMatchObject({
      instanceId: result.instanceId,
      status: 'completed',
      outcome: 'replaced',
      replacementId: expect.stringMatching(/^i-[0-9a-f]+$/),
    });
    expect(result.replacementIds).toEqual([workflow!.replacementId]);
    expect(workflow!.replacementId).not.toBe(result.instanceId);
    // The sample's 2026-01-01 is gone: the local cloud's clock starts when the command runs.
    expect(Date.parse(result.eventTime)).toBeGreaterThanOrEqual(startedAt);
    expect(result.about).toBe(`instance ${result.instanceId}`);
  });

  it('--instance naming an instance not in the local fleet: exit 2, naming the fleet, nothing delivered', async ({
    expect,
  }) => {
    const notInFleet = 'i-0123456789abcdef0';

    const run = await handoff(['replay', WARNING_FILE, '--instance', notInFleet]);

    expectOneLineError(
      expect,
      run,
      2,
      `--instance ${notInFleet} is not one of the local fleet's instances`,
      'nothing was replayed',
      'Leave --instance out',
    );
    const listed = run.stderr.match(/this run's were ((?:i-[0-9a-f]{17}(?:, )?)+);/);
    expect(listed, run.stderr).not.toBeNull();
    expect(listed![1]!.split(', ')).toHaveLength(3);
    expect(listed![1]).not.toContain(notInFleet);
  });

  it.for([
    ['a target group', 'events/cloudwatch-alarm-state-change.json', 'spot-handoff-heal-web-unhealthy-hosts'],
    ['an instance', 'events/cloudwatch-alarm-status-check.json', 'spot-handoff-heal-status-'],
  ] as const)(
    'an alarm about %s (%s): healing replaces the unhealthy fleet instance, dated now',
    async ([about, file, alarmName], { expect }) => {
      const startedAt = Math.floor(Date.now() / 1000) * 1000;

      const run = await handoff(['replay', file, '--json']);

      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toBe('');
      const result = jsonOf<ReplayResult>(run);
      expect(result).toMatchObject({ ok: true, target: 'local', functions: ['healing'], ignored: [] });
      const victim = result.instanceId;
      expect(victim).toMatch(/^i-[0-9a-f]{17}$/);
      if (about === 'an instance') {
        // The sample's instance is not on the local cloud: the alarm names the fleet's, in its name too.
        expect(result.about).toBe(`instance ${victim}`);
        expect(result.healing).toEqual([expect.objectContaining({ alarmName: `${alarmName}${victim}` })]);
      } else {
        // The target group the sample names is not on the local cloud: the alarm names the fleet's.
        expect(result.about).toMatch(/^target group targetgroup\/web\/[0-9a-f]+$/);
        expect(result.about).not.toContain('73e2d6bc24d8a067');
        expect(result.healing).toEqual([expect.objectContaining({ alarmName })]);
      }
      expect(result.healing[0]).toMatchObject({ verdict: 'healing', coolingDown: [] });
      expect(result.healing[0]!.reason).toContain(victim);
      expect(result.outcomes).toEqual([expect.objectContaining({ instanceId: victim })]);
      expect(result.workflows).toHaveLength(1);
      const [workflow] = result.workflows;
      expect(workflow).toMatchObject({
        instanceId: victim,
        replacementId: expect.stringMatching(/^i-[0-9a-f]+$/),
      });
      expect(workflow!.steps).toEqual(
        expect.arrayContaining([expect.objectContaining({ name: 'launch', status: 'done' })]),
      );
      expect(result.replacementIds).toEqual([workflow!.replacementId]);
      // Now on the local cloud's clock, which starts when the command runs.
      expect(Date.parse(result.eventTime)).toBeGreaterThanOrEqual(startedAt);
    },
  );

  it('an alarm, without --json: says what the alarm is about and what healing did', async ({ expect }) => {
    const run = await handoff(['replay', 'events/cloudwatch-alarm-status-check.json']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const about = run.stdout.match(/^The alarm is about instance (i-[0-9a-f]{17})\.$/m);
    expect(about, run.stdout).not.toBeNull();
    const victim = about![1]!;
    expect(run.stdout).toMatch(
      new RegExp(
        `^Delivering CloudWatch Alarm State Change \\S+ about instance ${victim} at \\S+Z to healing\\.$`,
        'm',
      ),
    );
    expect(run.stdout).toContain(`alarm spot-handoff-heal-status-${victim}: healing — healing ${victim} `);
    expect(run.stdout).toMatch(new RegExp(`^wf-${victim}: (in-progress|completed)`, 'm'));
  });

  it('--keep-time: the event keeps its own time, the local clock starts there, and it is handled', async ({
    expect,
  }) => {
    const sample = JSON.parse(await readFile(join(REPO, WARNING_FILE), 'utf8')) as { time: string };

    const run = await handoff(['replay', WARNING_FILE, '--keep-time', '--json']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const result = jsonOf<ReplayResult>(run);
    expect(result.eventTime).toBe(sample.time);
    expect(result.workflows).toEqual([
      expect.objectContaining({ instanceId: result.instanceId, outcome: 'replaced' }),
    ]);
  });

  it('a running instance with no workflow: a no-op, nothing recorded', async ({ expect }) => {
    const run = await handoff(['replay', RUNNING_FILE, '--json']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    expect(result.functions).toEqual(['state-change']);
    expect(result.outcomes).toEqual([
      expect.objectContaining({ instanceId: result.instanceId, result: 'no-op' }),
    ]);
    expect(result.workflows).toEqual([]);
    expect(result.replacementIds).toEqual([]);
  });
});

/**
 * `--dry-run`, `--aws` and `status` against a local cloud this test process owns, as they would run
 * against AWS: only the environment tells the command where to go. The tests run in order: the dry
 * run first (nothing may change), then the real run, then `status` reads what it recorded.
 */
describe('handoff replay --dry-run / --aws, then handoff status, against a running cloud', () => {
  const TABLE = 'spot-handoff-e2e';
  let cloud: LocalCloud;
  let ec2: EC2Client;
  let elbv2: ElasticLoadBalancingV2Client;
  let dynamodb: DynamoDBClient;
  let store: DynamoWorkflowStore;
  let fleet: WebFleet;
  let env: NodeJS.ProcessEnv;
  let victim: string;
  /** The replacement the `--aws` run launched (read by the `status` tests). */
  let replacementId: string | undefined;

  const targets = () => cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets ?? [];
  const stateOf = (id: string) => targets().find((t) => t.id === id)?.state;

  beforeAll(async () => {
    cloud = await LocalCloud.start({ clock: 'manual' });
    ec2 = new EC2Client(cloud.clientConfig());
    elbv2 = new ElasticLoadBalancingV2Client(cloud.clientConfig());
    dynamodb = new DynamoDBClient({ ...cloud.clientConfig(), endpoint: cloud.dynamoEndpoint! });
    await createWorkflowTable(dynamodb, TABLE);
    store = new DynamoWorkflowStore({ client: DynamoDBDocumentClient.from(dynamodb), tableName: TABLE });
    fleet = await createWebFleet({ ec2, elbv2 });
    await cloud.clock.advance(10_000); // pending → running
    await registerFleet(elbv2, fleet);
    // The ALB provisions (60 s), then two health checks 5 s apart pass: the fleet serves.
    await cloud.clock.advance(75_000);
    victim = fleet.instanceIds[0]!;
    env = userEnv({ ...cloud.env(), HANDOFF_TABLE_NAME: TABLE });
  });

  afterAll(async () => {
    ec2?.destroy();
    elbv2?.destroy();
    dynamodb?.destroy();
    await cloud?.stop();
  });

  it('--dry-run prints the plan (EC2 checked with DryRun, ELB and DynamoDB writes skipped) and changes nothing', async () => {
    const before = { instances: cloud.ec2.instances(), targets: targets() };
    expect(before.targets.map((t) => [t.id, t.state])).toEqual(
      fleet.instanceIds.map((id) => [id, 'healthy']),
    );

    const run = await handoff(['replay', WARNING_FILE, '--dry-run', '--instance', victim, '--json'], { env });

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    expect(result).toMatchObject({ ok: true, target: 'aws', dryRun: true, instanceId: victim });
    const replacesVictim = { Key: 'spot-handoff:replaces', Value: victim };
    expect(result.plan).toContainEqual(
      expect.objectContaining({
        service: 'ec2',
        action: 'RunInstances',
        outcome: 'would-succeed',
        params: expect.objectContaining({
          LaunchTemplate: expect.objectContaining({ LaunchTemplateId: fleet.launchTemplateId }),
          TagSpecifications: expect.arrayContaining([
            expect.objectContaining({ Tags: expect.arrayContaining([replacesVictim]) }),
          ]),
        }),
      }),
    );
    expect(result.plan).toContainEqual(
      expect.objectContaining({
        service: 'elbv2',
        action: 'DeregisterTargets',
        outcome: 'skipped',
        params: { TargetGroupArn: fleet.targetGroupArn, Targets: [expect.objectContaining({ Id: victim })] },
      }),
    );
    const dynamo = result.plan.filter((p) => p.service === 'dynamodb');
    expect(dynamo.length).toBeGreaterThan(0);
    expect(dynamo.every((p) => p.outcome === 'skipped')).toBe(true);
    expect(result.plan.filter((p) => p.service !== 'ec2').every((p) => p.outcome === 'skipped')).toBe(true);

    expect(cloud.ec2.instances().map((i) => i.instanceId)).toEqual(fleet.instanceIds);
    expect(cloud.ec2.instances()).toEqual(before.instances);
    expect(stateOf(victim)).toBe('healthy');
    expect(targets()).toEqual(before.targets);
    expect(await store.get(workflowIdFor(victim))).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });

  it('--aws really hands off: one tagged replacement launched, the instance draining, the workflow recorded', async () => {
    const run = await handoff(['replay', WARNING_FILE, '--aws', '--instance', victim, '--json'], { env });

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ReplayResult>(run);
    expect(result).toMatchObject({ ok: true, target: 'aws', dryRun: false, instanceId: victim, plan: [] });

    const replacements = cloud.ec2.instances().filter((i) => i.tags['spot-handoff:replaces'] === victim);
    expect(replacements).toHaveLength(1);
    const [replacement] = replacements;
    replacementId = replacement!.instanceId;
    expect(cloud.ec2.instances()).toHaveLength(fleet.instanceIds.length + 1);
    expect(replacement!.tags).toMatchObject({
      'spot-handoff:managed': 'true',
      'spot-handoff:workflow': workflowIdFor(victim),
    });
    expect(result.replacementIds).toEqual([replacementId]);

    expect(stateOf(victim)).toBe('draining');
    for (const other of fleet.instanceIds.slice(1)) expect(stateOf(other)).toBe('healthy');

    expect(await store.get(workflowIdFor(victim))).toMatchObject({
      workflowId: workflowIdFor(victim),
      instanceId: victim,
      drained: true,
      replacement: { instanceId: replacementId },
    });
  });

  it('status lists the workflow, and finds it by instance id and by replacement id', async () => {
    expect(replacementId, 'the --aws test must run first').toBeDefined();

    const [listed, byInstance, byReplacement] = await Promise.all([
      handoff(['status', '--json'], { env }),
      handoff(['status', victim], { env }),
      handoff(['status', replacementId!], { env }),
    ]);

    expect(listed.code, listed.stderr).toBe(0);
    expect(jsonOf<{ workflows: WorkflowSummary[] }>(listed).workflows).toEqual([
      expect.objectContaining({ workflowId: workflowIdFor(victim), instanceId: victim, replacementId }),
    ]);
    expect(byInstance.code, byInstance.stderr).toBe(0);
    expect(byInstance.stdout).toMatch(new RegExp(`^${workflowIdFor(victim)}\\s.*${replacementId}.*\\n$`));
    expect(byReplacement.code, byReplacement.stderr).toBe(0);
    expect(byReplacement.stdout).toBe(byInstance.stdout);
  });

  it('status of an instance with no workflow fails with one line naming it', async () => {
    const run = await handoff(['status', 'i-0000000000000abcd'], { env });

    expectOneLineError(expect, run, 1, 'i-0000000000000abcd');
  });
});

describe.concurrent('handoff errors: the exit code says which kind, stderr says why in one line', () => {
  it('no command: usage on stderr, exit 2; help: usage on stdout, exit 0', async ({ expect }) => {
    const run = await handoff([]);
    const help = await handoff(['help']);

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('Usage: handoff <command>');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: handoff <command>');
  });

  it('an unknown command: exit 2, naming it', async ({ expect }) => {
    expectOneLineError(expect, await handoff(['frobnicate']), 2, '"frobnicate"');
  });

  it('replay of a missing file: exit 1, naming the file', async ({ expect }) => {
    expectOneLineError(
      expect,
      await handoff(['replay', 'events/no-such-event.json']),
      1,
      'events/no-such-event.json',
    );
  });

  it('replay of a malformed event: exit 1, naming the field', async ({ expect }) => {
    const scratch = await scratchDir();
    try {
      const event = JSON.parse(await readFile(join(REPO, WARNING_FILE), 'utf8')) as {
        detail: Record<string, unknown>;
      };
      const file = scratch.path('bogus-instance.json');
      await writeJson(file, { ...event, detail: { ...event.detail, 'instance-id': 'bogus' } });

      expectOneLineError(expect, await handoff(['replay', file, '--json']), 1, 'detail.instance-id');
    } finally {
      await scratch.remove();
    }
  });

  it('replay --instance with something that is not an instance id: exit 2, naming the option', async ({
    expect,
  }) => {
    expectOneLineError(
      expect,
      await handoff(['replay', WARNING_FILE, '--instance', 'i-nonexistent0000000']),
      2,
      '--instance i-nonexistent0000000',
    );
  });

  it('demo --speed 0: exit 2', async ({ expect }) => {
    expectOneLineError(expect, await handoff(['demo', '--speed', '0']), 2, '--speed 0');
  });

  it('replay --bus with --dry-run: exit 2', async ({ expect }) => {
    expectOneLineError(expect, await handoff(['replay', 'x.json', '--bus', 'b', '--dry-run']), 2, '--bus');
  });

  it('status without HANDOFF_TABLE_NAME: a usage error, exit 2, naming the variable', async ({ expect }) => {
    expectOneLineError(expect, await handoff(['status'], { env: userEnv() }), 2, 'HANDOFF_TABLE_NAME');
  });

  it('--version: the package version on stdout, exit 0', async ({ expect }) => {
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };

    const run = await handoff(['--version']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(`${version}\n`);
  });

  it('a command with --help: usage on stdout, exit 0, nothing run', async ({ expect }) => {
    const run = await handoff(['sweep', '--help'], { env: userEnv() });

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Usage: handoff <command>');
  });
});

/** What Node's own argument parser says, which must never reach the user. */
const PARSER_WORDS = /positional argument|ambiguous|argument missing|-XYZ|Did you forget/;

describe.concurrent('usage errors: one clean line saying what is wrong and what to do, exit 2', () => {
  it.each([
    [
      ['status', '--local'],
      ['status works on a deployment', 'pass --stack NAME', 'HANDOFF_TABLE_NAME'],
    ],
    [
      ['sweep', '--local'],
      ['sweep works on a deployment', 'pass --stack NAME', 'handoff report --local'],
    ],
    [
      ['timeline', 'i-0123456789abcdef0', '--local'],
      ['timeline works on a deployment', 'handoff demo'],
    ],
    [
      ['demo', '--frob'],
      ['demo does not take --frob', '--speed, --rebalance, --scenario', 'handoff help'],
    ],
    [
      ['status', '-x'],
      ['status does not take -x', '--limit, --state, --group, --since'],
    ],
    [
      ['demo', '--speed', '-5'],
      ['--speed -5 is not valid', 'must be a positive number'],
    ],
    [
      ['status', '--limit', '-1'],
      ['--limit -1 is not valid', 'must be a positive whole number'],
    ],
    [
      ['status', '--limit', '-0.5'],
      ['--limit -0.5 is not valid', 'must be a positive whole number'],
    ],
    [
      ['demo', '--scenario'],
      ['--scenario needs a scenario', 'capacity or unhealthy'],
    ],
    [['demo', '--scenario', '--json'], ['--scenario needs a scenario']],
    [['demo', '--speed'], ['--speed needs a number from 1 to 100, or max']],
    [['demo', '--json=yes'], ['--json takes no value']],
    [
      ['demo', 'fast'],
      ['demo takes no arguments', '--scenario'],
    ],
    [['status', '--stack'], ['--stack needs the name of the deployed stack']],
    [['status', 'a', 'b'], ['status takes at most one']],
    [['report'], ['no workflow table', '--table NAME', '--local']],
    [['sweep'], ['no workflow table', 'pass --stack NAME']],
    [['replay', WARNING_FILE, '--aws', '--local'], ['--aws and --local contradict each other']],
    [['replay', WARNING_FILE, '--bus'], ['--bus needs the name of the replay bus']],
  ] as [string[], string[]][])('handoff %j', async (args, mentions) => {
    const run = await handoff(args, { env: userEnv() });

    expectOneLineError(expect, run, 2, ...mentions);
    expect(run.stderr).not.toMatch(PARSER_WORDS);
  });
});

describe.concurrent('handoff against AWS: failures are explained, usage errors are 2', () => {
  /** No credentials or Region of the person running the tests; the profile files of `scratch`. */
  async function profileFiles() {
    const scratch = await scratchDir();
    await writeFile(
      scratch.path('config'),
      '[default]\nregion = eu-west-1\n\n[profile ops]\nregion = eu-west-1\n',
    );
    await writeFile(
      scratch.path('credentials'),
      '[keys]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = x\n',
    );
    const env = (extra: Record<string, string> = {}) =>
      userEnv({
        HOME: '/nonexistent-home',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: scratch.path('config'),
        AWS_SHARED_CREDENTIALS_FILE: scratch.path('credentials'),
        ...extra,
      });
    return { scratch, env };
  }

  it('--profile naming no profile: says it is in neither AWS file and how to list or add it, exit 2', async ({
    expect,
  }) => {
    const { scratch, env } = await profileFiles();
    try {
      const [withRegion, withoutRegion, fromEnv, otherCredentials] = await Promise.all([
        handoff(['status', '--stack', 'spot-handoff-prod', '--region', 'eu-west-1', '--profile', 'nosuch'], {
          env: env(),
        }),
        handoff(['status', '--stack', 'spot-handoff-prod', '--profile', 'nosuch'], { env: env() }),
        handoff(['sweep', '--stack', 'spot-handoff-prod'], { env: env({ AWS_PROFILE: 'nosuch' }) }),
        // Credentials the SDK's chain would fall back on (a machine's role, here keys): the
        // mistyped profile is refused all the same, before anything is asked of AWS.
        handoff(['sweep', '--stack', 'spot-handoff-prod', '--region', 'eu-west-1', '--profile', 'nosuch'], {
          env: env({ AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'x' }),
        }),
      ]);

      for (const run of [withRegion, withoutRegion, otherCredentials])
        expectOneLineError(
          expect,
          run,
          2,
          '--profile nosuch: no such profile',
          scratch.path('config'),
          'aws configure list-profiles',
        );
      expectOneLineError(expect, fromEnv, 2, 'AWS_PROFILE=nosuch: no such profile');
      for (const run of [withRegion, withoutRegion, fromEnv, otherCredentials])
        expect(run.stderr).not.toContain('no credentials');
    } finally {
      await scratch.remove();
    }
  });

  it('a profile that is there but gives no credentials: says so, naming it, exit 1', async ({ expect }) => {
    const { scratch, env } = await profileFiles();
    try {
      const run = await handoff(['status', '--stack', 'spot-handoff-prod', '--profile', 'ops'], {
        env: env(),
      });

      expectOneLineError(expect, run, 1, 'profile ops gives no credentials', 'aws configure --profile ops');
    } finally {
      await scratch.remove();
    }
  });

  it('sweep with an endpoint that does not answer: the one cause once, as status says it, exit 1', async ({
    expect,
  }) => {
    const port = await closedPort();
    const env = userEnv({
      HANDOFF_TABLE_NAME: 'spot-handoff-e2e',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'x',
      AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
      AWS_MAX_ATTEMPTS: '1',
    });

    const [sweep, dryRun, status] = await Promise.all([
      handoff(['sweep'], { env }),
      handoff(['sweep', '--dry-run'], { env }),
      handoff(['status'], { env }),
    ]);

    for (const run of [sweep, dryRun, status])
      expectOneLineError(expect, run, 1, 'AWS did not answer', `127.0.0.1:${port}`, 'AWS_ENDPOINT_URL_*');
    expect(sweep.stderr).toBe(status.stderr);
    expect(dryRun.stderr).toBe(status.stderr);
    expect(sweep.stderr).not.toContain('AggregateError');
  });
});

/** A loopback port nothing listens on: one the system gave out, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}
