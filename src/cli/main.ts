import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { PlanEntry } from '../aws/dry-run.ts';
import { ConfigError } from '../config.ts';
import type { WorkflowStatus } from '../core/workflow.ts';
import { explainFailure } from './aws-errors.ts';
import type { CapacityReport } from './capacity-report.ts';
import { CliError } from './errors.ts';

// Each command loads what it needs (the SDK, the local cloud) when it runs: `handoff help` loads
// nothing but this file.

/** The demo's clock: slower than 1 shows nothing more; faster than 100 lets a handler's real
 * run time (tens to hundreds of milliseconds) eat the two-minute deadline (`max` stops the clock
 * while a handler runs instead). */
const MIN_SPEED = 1;
const MAX_SPEED = 100;

/** What `handoff demo --scenario` plays. */
const SCENARIOS = ['basic', 'stateful', 'chaos', 'capacity', 'unhealthy'];
const SCENARIO_LIST = `${SCENARIOS.slice(0, -1).join(', ')} or ${SCENARIOS.at(-1)}`;

const USAGE = `Usage: handoff <command> [options]

Commands:
  demo                       Run the local cloud, interrupt a managed Spot instance, show the handoff.
      --speed N              Local-cloud seconds per real second, ${MIN_SPEED} to ${MAX_SPEED} (default 10), or max:
                             as fast as the handlers allow (time stands still while one runs).
      --rebalance            Send a rebalance recommendation before the warning.
      --scenario S           basic (default) or stateful: the instance has a data volume, a
                             secondary interface and private IP, and an Elastic IP to hand over;
                             or chaos: 6 of 8 instances interrupted under API faults, throttling,
                             duplicate, out-of-order and lost events and crashes between steps;
                             capacity: a whole Spot pool of a group is reclaimed; each replacement's
                             pool, capacity type and reason as it is chosen, then the revert to Spot;
                             unhealthy: an instance fails its health checks, a healing alarm flaps,
                             the instance is replaced once in the careful order.
      --timelines DIR        Where the picture of each workflow goes (default handoff-timelines).
  replay <event.json>        Run one event through the handlers. The event's time is set to now
                             (--keep-time keeps the file's), so deadlines count from now.
      --instance ID          Point the event at this instance (with --aws, --dry-run, --bus or --stack;
                             a local replay points it at its fresh fleet: leave it out there).
      --scenario S           Local replays: basic (default) or stateful (the fleet instance has a
                             data volume, a secondary interface and IP, and an Elastic IP).
      --local                A fresh local cloud with the demo fleet (the default).
      --aws                  Run the handoff here against your account (or the SDK's endpoints):
                             it drains and launches for real. Table: --stack or HANDOFF_TABLE_NAME.
      --dry-run              As --aws with EC2 DryRun, no ELB or DynamoDB write: prints the plan.
                             Needs only read permissions. With --local, plans on a local fleet.
      --bus NAME             Put the event on this EventBridge bus (the stack output
                             ReplayEventBusName); the deployment's functions handle it.
      --stack NAME           Without --aws or --dry-run: put the event on that stack's replay bus.
  status [ID]                Workflows, or one by workflow, instance or replacement id.
      --state S              in-progress, standby or completed.
      --group G              The instance's spot-handoff:group tag, Auto Scaling group or target group.
      --since AGE            Started within AGE: 90s, 30m, 2h, 7d.
      --limit N              How many (default 20).
  timeline <ID>              One workflow's steps on a time axis against the two-minute deadline.
      --svg FILE             Also draw it as a picture (SVG).
  sweep                      Run the sweep now: every open workflow re-examined, as the scheduled
                             function does every minute.
      --dry-run              Plan only (EC2 DryRun, no ELB or DynamoDB write).
  report                     Per workflow, per group and in total: the capacity each replacement got and
                             why (pool, capacity type, reason), its hourly cost against On-Demand and
                             the estimated saving (per hour, and per month of 730 h).
                             Reads every workflow of the table (a scan; the functions never scan).
      --table NAME           The deployment's workflow table (default: HANDOFF_TABLE_NAME).
      --local                Run the capacity scenario on a fresh local cloud, then report on it.

status, timeline, sweep, report and replay --aws/--dry-run/--bus take:
      --stack NAME           The deployment: its table is the stack output StateTableName.
                             Without it: HANDOFF_TABLE_NAME and the SDK's endpoints.
      --region R             Default: AWS_REGION or the profile's region.
      --profile P            A profile of ~/.aws/config or ~/.aws/credentials (default: AWS_PROFILE,
                             then the SDK's chain).

Every command takes --json for a machine-readable summary, and --help. handoff --version prints the version.
Exit codes: 0 ok; 1 failed (AWS refused, failed or did not answer; no credentials; a stack, workflow or
file not found; a demo's checks did not hold); 2 usage (an unknown command or option, a missing or
wrong value, contradicting options, no table, no Region, a profile not in the AWS config files, a
HANDOFF_* setting with a wrong value).`;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== undefined && COMMANDS.includes(command) && rest.some((arg) => HELP.includes(arg))) {
    io.out(USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'demo':
        return await demo(rest, io);
      case 'replay':
        return await replay(rest, io);
      case 'status':
        return await status(rest, io);
      case 'timeline':
        return await timeline(rest, io);
      case 'sweep':
        return await sweep(rest, io);
      case 'report':
        return await report(rest, io);
      case undefined:
        io.err(USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return 0;
      case '--version':
        io.out(version());
        return 0;
      default:
        throw new CliError(`Unknown command "${command}". Run "handoff help" for the commands.`, 2);
    }
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`handoff: ${error.message}`);
      return error.exitCode;
    }
    // A setting of the environment with a wrong value: fixed where it is set, like a wrong flag.
    if (error instanceof ConfigError) {
      io.err(`handoff: ${error.message.replace(/\s*\n\s*/g, ' ')}`);
      return 2;
    }
    io.err(`handoff: ${explainFailure(error)}`);
    return 1;
  }
}

/** The version of the installed package: `package.json` is two folders up from src/cli and dist/cli. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

const printer = (json: boolean, io: Io) => (json ? () => {} : io.out);

const COMMANDS = ['demo', 'replay', 'status', 'timeline', 'sweep', 'report'];
const HELP = ['--help', '-h'];

/** What is said when a command is given `--local`: where its workflows are, and what runs locally. */
const NOT_LOCAL =
  "works on a deployment's workflow table, not on a local run: pass --stack NAME, or set HANDOFF_TABLE_NAME (and AWS_ENDPOINT_URL_* for LocalStack or moto). On this machine, handoff demo and handoff replay print the workflows of the local cloud they run, and handoff report --local reports on one.";

/** A number below zero, given as an option's value (`--limit -1`), which parseArgs takes for an option. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * The options of `command`, read strictly, with every mistake refused in one line saying what is
 * wrong and what to do (exit 2): an option the command does not take (naming those it does), an
 * option without its value (`hints` says what the value is: a value is missing when the option
 * ends the line or another option follows it), a value given to a switch. A negative number is
 * taken as the value (`--limit -1`), for the command to refuse as not positive.
 */
function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  args: string[],
  options: O,
  hints: Partial<Record<keyof O, string>>,
) {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  // `--limit -1` as `--limit=-1`: parseArgs would take the -1 for an option.
  const joined = new Map<number, string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = options[token.name];
    if (option === undefined || token.rawName !== `--${token.name}`) {
      if (token.name === 'local' && ['status', 'timeline', 'sweep'].includes(command))
        throw new CliError(`${command} ${NOT_LOCAL}`, 2);
      const valid = Object.keys(options).map((name) => `--${name}`);
      throw new CliError(
        `${command} does not take ${token.rawName}: its options are ${valid.join(', ')} (handoff help says what each does).`,
        2,
      );
    }
    if (option.type === 'boolean') {
      if (token.inlineValue)
        throw new CliError(`${token.rawName} takes no value: leave out "=${token.value}".`, 2);
      continue;
    }
    const value = token.value;
    const dashed = value?.startsWith('-') === true && !token.inlineValue;
    if (value === undefined || value === '' || (dashed && !NEGATIVE_NUMBER.test(value)))
      throw new CliError(`${token.rawName} needs ${hints[token.name as keyof O] ?? 'a value'}.`, 2);
    if (dashed) joined.set(token.index, `${token.rawName}=${value}`);
  }
  return parseArgs({
    args: args.flatMap((arg, i) => (joined.has(i - 1) ? [] : [joined.get(i) ?? arg])),
    options,
    strict: true,
    allowPositionals: true,
  });
}

const AWS_OPTIONS = {
  stack: { type: 'string' },
  region: { type: 'string' },
  profile: { type: 'string' },
} as const;

const AWS_HINTS = {
  stack: 'the name of the deployed stack (e.g. spot-handoff-prod)',
  region: 'a Region (e.g. eu-west-1)',
  profile: 'a profile name of ~/.aws/config or ~/.aws/credentials (aws configure list-profiles lists them)',
};

type AwsValues = { stack?: string; region?: string; profile?: string };
const awsTarget = (values: AwsValues) => ({
  stack: values.stack,
  region: values.region,
  profile: values.profile,
});

/** The first of the options given, for a refusal naming it. */
const given = (values: Record<string, unknown>, names: string[]) =>
  names.find((name) => values[name] !== undefined && values[name] !== false);

async function demo(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'demo',
    rest,
    {
      json: { type: 'boolean' },
      speed: { type: 'string' },
      rebalance: { type: 'boolean' },
      scenario: { type: 'string' },
      timelines: { type: 'string' },
    },
    {
      speed: `a number from ${MIN_SPEED} to ${MAX_SPEED}, or max`,
      scenario: `a scenario: ${SCENARIO_LIST}`,
      timelines: 'a directory',
    },
  );
  if (positionals.length > 0)
    throw new CliError(
      `demo takes no arguments: choose what it plays with --scenario ${SCENARIOS.join('|')}.`,
      2,
    );
  const speed = values.speed === 'max' ? 'manual' : values.speed === undefined ? 10 : Number(values.speed);
  if (speed !== 'manual' && (!Number.isFinite(speed) || speed < MIN_SPEED || speed > MAX_SPEED)) {
    throw new CliError(
      `--speed ${String(values.speed)} is not valid: it must be a positive number of local-cloud seconds per real second, ${MIN_SPEED} to ${MAX_SPEED}, or max (as fast as the handlers allow).`,
      2,
    );
  }
  const scenario = values.scenario ?? 'basic';
  if (!SCENARIOS.includes(scenario))
    throw new CliError(`--scenario ${scenario} is not known: use ${SCENARIO_LIST}.`, 2);
  const json = values.json === true;
  if (scenario === 'chaos') {
    if (values.rebalance) throw new CliError('--rebalance does not apply to --scenario chaos.', 2);
    const { runChaos } = await import('./chaos.ts');
    const result = await runChaos({ speed, print: printer(json, io) });
    if (json) io.out(JSON.stringify(result, null, 2));
    if (!result.ok)
      io.err(
        `handoff: chaos left ${result.doubleLaunches} double launches, ${result.lostResources.length} lost resources and ${result.unaccounted.length} unaccounted workflows; see the report.`,
      );
    return result.ok ? 0 : 1;
  }
  if (scenario === 'capacity') {
    if (values.rebalance) throw new CliError('--rebalance does not apply to the capacity scenario.', 2);
    const { runCapacityDemo } = await import('./capacity-demo.ts');
    const result = await runCapacityDemo({ speed, print: printer(json, io) });
    if (json) io.out(JSON.stringify(result, null, 2));
    if (!result.ok)
      io.err(`handoff: the capacity demo's checks did not hold: ${JSON.stringify(result.checks)}`);
    return result.ok ? 0 : 1;
  }
  const { runDemo } = await import('./demo.ts');
  const result = await runDemo({
    speed,
    scenario: scenario === 'stateful' || scenario === 'unhealthy' ? scenario : 'basic',
    rebalance: values.rebalance === true,
    timelinesDir: values.timelines ?? 'handoff-timelines',
    print: printer(json, io),
  });
  if (json) io.out(JSON.stringify(result, null, 2));
  if (!result.ok)
    io.err(
      `handoff: the demo's handoff did not complete as expected (${result.workflows[0]?.outcome ?? 'no workflow'}).`,
    );
  return result.ok ? 0 : 1;
}

async function replay(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'replay',
    rest,
    {
      json: { type: 'boolean' },
      instance: { type: 'string' },
      aws: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      bus: { type: 'string' },
      local: { type: 'boolean' },
      scenario: { type: 'string' },
      'keep-time': { type: 'boolean' },
      ...AWS_OPTIONS,
    },
    {
      bus: 'the name of the replay bus (the stack output ReplayEventBusName), or use --stack NAME',
      instance: 'an instance id',
      scenario: 'basic or stateful',
      ...AWS_HINTS,
    },
  );
  const file = positionals[0];
  if (!file || positionals.length > 1)
    throw new CliError(
      'replay takes one event file, e.g. handoff replay events/spot-interruption-warning.json',
      2,
    );
  if (values.local) {
    const clash = given(values, ['aws', 'bus', 'stack', 'region', 'profile']);
    if (clash)
      throw new CliError(
        `--${clash} and --local contradict each other: --local runs a fresh local cloud on this machine; leave out one of them.`,
        2,
      );
  }
  if (values.bus !== undefined && (values.aws || values['dry-run'])) {
    throw new CliError(
      '--bus puts the event on a bus for the deployment to handle; it cannot be combined with --aws or --dry-run.',
      2,
    );
  }
  const scenario = values.scenario ?? 'basic';
  if (scenario !== 'basic' && scenario !== 'stateful') {
    throw new CliError(`--scenario ${scenario} is not known: use basic or stateful.`, 2);
  }
  const json = values.json === true;
  const dryRun = values['dry-run'] === true;
  const direct = values.aws === true || (dryRun && !values.local);
  const target =
    values.bus !== undefined || (values.stack !== undefined && !direct) ? 'bus' : direct ? 'aws' : 'local';
  const awsOnly = given(values, ['region', 'profile']);
  if (target === 'local' && awsOnly)
    throw new CliError(`--${awsOnly} is for AWS: add --aws, --dry-run, --bus NAME or --stack NAME.`, 2);
  if (target !== 'local' && values.scenario !== undefined)
    throw new CliError('--scenario builds a local fleet: it goes with local replays only.', 2);
  const { runReplay } = await import('./replay.ts');
  const result = await runReplay({
    file,
    instanceId: values.instance,
    target,
    dryRun,
    busName: values.bus,
    aws: awsTarget(values),
    keepTime: values['keep-time'] === true,
    scenario,
    print: printer(json, io),
  });
  if (json) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  if (target === 'bus') {
    const status = `handoff status${result.instanceId ? ` ${result.instanceId}` : ''}${values.stack ? ` --stack ${values.stack}` : ''}`;
    io.out(
      `Put ${result.detailType} about ${result.about} on bus ${result.busName} as event ${result.eventId}; the deployment handles it (${status}).`,
    );
    return 0;
  }
  for (const h of result.healing) {
    io.out(`alarm ${h.alarmName}: ${h.verdict} — ${h.reason}`);
    if (h.coolingDown.length > 0)
      io.out(`  healed within the cooldown, left alone: ${h.coolingDown.join(', ')}`);
  }
  for (const o of result.outcomes) io.out(`${o.instanceId}: ${o.result}${o.reason ? ` — ${o.reason}` : ''}`);
  for (const i of result.ignored) io.out(`event ${i.eventId} ignored: ${i.reason}`);
  for (const w of result.workflows) {
    io.out(
      `${w.workflowId}: ${w.status}${w.outcome ? ` (${w.outcome})` : ''}${w.replacementId ? `, replacement ${w.replacementId}` : ''}`,
    );
    for (const s of w.steps)
      io.out(`  ${s.name} ${s.status}${s.detail ? `: ${s.detail}` : ''}${s.late ? ' (late)' : ''}`);
    for (const r of w.handover?.resources ?? []) {
      io.out(`  ${r.kind} ${r.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
    }
    if (w.waitingFor) io.out(`  waiting for: ${w.waitingFor}`);
  }
  if (dryRun) {
    io.out(`Plan (dry run, nothing changed): ${result.plan.length} calls`);
    for (const p of result.plan) io.out(`  ${p.service} ${p.action} ${p.outcome}: ${planParams(p)}`);
  }
  return 0;
}

const STATES: readonly WorkflowStatus[] = ['in-progress', 'standby', 'completed'];

async function status(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'status',
    rest,
    {
      json: { type: 'boolean' },
      limit: { type: 'string' },
      state: { type: 'string' },
      group: { type: 'string' },
      since: { type: 'string' },
      ...AWS_OPTIONS,
    },
    {
      limit: 'a positive whole number',
      state: STATES.join(', '),
      group: 'a group name',
      since: 'an age such as 90s, 30m, 2h or 7d',
      ...AWS_HINTS,
    },
  );
  if (positionals.length > 1)
    throw new CliError('status takes at most one workflow, instance or replacement id.', 2);
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new CliError(
      `--limit ${String(values.limit)} is not valid: it must be a positive whole number (default 20).`,
      2,
    );
  if (values.state !== undefined && !STATES.includes(values.state as WorkflowStatus))
    throw new CliError(`--state ${values.state} is not a workflow state: use ${STATES.join(', ')}.`, 2);
  const { parseAge, runStatus } = await import('./operations.ts');
  let since: Date | undefined;
  if (values.since !== undefined) {
    const age = parseAge(values.since);
    if (age === undefined)
      throw new CliError(`--since ${values.since} is not an age: use a number and s, m, h or d (2h).`, 2);
    since = new Date(Date.now() - age);
  }
  const id = positionals[0];
  if (id && (values.state || values.group || values.since))
    throw new CliError(
      '--state, --group and --since filter the list; leave them out when naming a workflow.',
      2,
    );
  const result = await runStatus(awsTarget(values), id, {
    status: values.state as WorkflowStatus | undefined,
    group: values.group,
    since,
    limit,
  });
  if (values.json) io.out(JSON.stringify({ table: result.table, workflows: result.workflows }, null, 2));
  else for (const line of result.lines) io.out(line);
  return 0;
}

async function timeline(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'timeline',
    rest,
    { json: { type: 'boolean' }, svg: { type: 'string' }, ...AWS_OPTIONS },
    { svg: 'the file to draw the picture in (e.g. timeline.svg)', ...AWS_HINTS },
  );
  const id = positionals[0];
  if (!id || positionals.length > 1)
    throw new CliError(
      'timeline takes one workflow or instance id, e.g. handoff timeline i-0123456789abcdef0',
      2,
    );
  const [{ runTimeline }, { timelineLines }] = await Promise.all([
    import('./operations.ts'),
    import('./timeline.ts'),
  ]);
  const result = await runTimeline(awsTarget(values), id, values.svg);
  if (values.json) io.out(JSON.stringify(result, null, 2));
  else {
    for (const line of timelineLines(result.timeline)) io.out(line);
    if (result.svg) io.out(`Picture: ${result.svg}`);
  }
  return 0;
}

async function sweep(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'sweep',
    rest,
    { json: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, ...AWS_OPTIONS },
    AWS_HINTS,
  );
  if (positionals.length > 0)
    throw new CliError('sweep takes no arguments: it re-examines every open workflow.', 2);
  const json = values.json === true;
  const { runSweep } = await import('./operations.ts');
  const result = await runSweep(awsTarget(values), values['dry-run'] === true, printer(json, io)).catch(
    (error: unknown) => {
      // Its parts fail apart (an AggregateError): each cause said once, in one line.
      throw error instanceof AggregateError
        ? new CliError(explainFailure(error, 'parts of the sweep'))
        : error;
    },
  );
  if (json) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  io.out(
    `Swept ${result.outcomes.length} open workflows in table ${result.table}${result.dryRun ? ' (dry run, nothing changed)' : ''}.`,
  );
  for (const o of result.outcomes) io.out(`${o.instanceId}: ${o.result}${o.reason ? ` — ${o.reason}` : ''}`);
  if (result.dryRun) {
    io.out(`Plan: ${result.plan.length} calls`);
    for (const p of result.plan) io.out(`  ${p.service} ${p.action} ${p.outcome}: ${planParams(p)}`);
  }
  return 0;
}

async function report(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(
    'report',
    rest,
    { json: { type: 'boolean' }, table: { type: 'string' }, local: { type: 'boolean' }, ...AWS_OPTIONS },
    { table: "the name of the deployment's workflow table", ...AWS_HINTS },
  );
  if (positionals.length > 0)
    throw new CliError('report takes no arguments: it reports on every workflow of the table.', 2);
  const clash = values.local ? given(values, ['table', 'stack', 'region', 'profile']) : undefined;
  if (clash)
    throw new CliError(
      `--${clash} and --local contradict each other: --local reports on a fresh local cloud; leave out one of them.`,
      2,
    );
  if (values.table !== undefined && values.stack !== undefined)
    throw new CliError(
      '--table and --stack both name the table: give --stack NAME (its output StateTableName) or --table NAME.',
      2,
    );
  const { formatCapacityReport } = await import('./capacity-report.ts');
  let capacity: CapacityReport;
  if (values.local) {
    const { runCapacityDemo } = await import('./capacity-demo.ts');
    capacity = (await runCapacityDemo({ speed: 'manual', print: () => {} })).report;
  } else {
    if (values.stack === undefined && values.table === undefined && !process.env['HANDOFF_TABLE_NAME'])
      throw new CliError(
        'no workflow table: pass --stack NAME (the table is its output StateTableName), --table NAME or set HANDOFF_TABLE_NAME; or --local for the capacity scenario on a local cloud.',
        2,
      );
    const { runReport } = await import('./operations.ts');
    const env =
      values.table === undefined ? process.env : { ...process.env, HANDOFF_TABLE_NAME: values.table };
    capacity = (await runReport({ ...awsTarget(values), env })).capacity;
  }
  if (values.json) io.out(JSON.stringify(capacity, null, 2));
  else for (const line of formatCapacityReport(capacity)) io.out(line);
  return 0;
}

/** A plan entry's request, short enough to read: a DynamoDB write by its key and version. */
function planParams(entry: PlanEntry): string {
  const item = (entry.params as { Item?: { pk?: string; version?: number } }).Item;
  if (entry.service === 'dynamodb' && item?.pk) {
    return `${item.pk}${item.version !== undefined ? ` (version ${item.version})` : ''}`;
  }
  return JSON.stringify(entry.params);
}
