import { parseArgs } from 'node:util';
import type { PlanEntry } from '../aws/dry-run.ts';
import { ConfigError, readConfig } from '../config.ts';
import { CliError } from './errors.ts';

// Each command loads what it needs (the SDK, the local cloud) when it runs: `handoff help` loads
// nothing but this file.

const USAGE = `Usage: handoff <command> [options]

Commands:
  demo                       Run the local cloud, interrupt a managed Spot instance, show the handoff.
      --speed N              Local-cloud seconds per real second (default 10), or max: as fast
                             as the handlers allow (time stands still while one runs).
      --rebalance            Send a rebalance recommendation before the warning.
      --scenario S           basic (default) or stateful: the instance has a data volume, a
                             secondary interface and private IP, and an Elastic IP to hand over;
                             or unhealthy: an instance fails its health checks, a healing alarm
                             flaps, and the instance is replaced once, carefully.
  replay <event.json>        Run one event through the handlers.
      --instance ID          Point the event at this instance.
                             Default target: the local cloud (a fresh demo fleet).
      --scenario S           Local replays: basic (default) or stateful (the fleet instance has a
                             data volume, a secondary interface and IP, and an Elastic IP).
      --aws                  Against what the SDK's credentials and AWS_ENDPOINT_URL_* point at
                             (AWS, LocalStack, moto); table from HANDOFF_TABLE_NAME.
      --dry-run              EC2 mutations are sent with DryRun=true; no ELB or DynamoDB write;
                             the plan is printed. Implies --aws; with --local, plans against a
                             fresh local fleet instead.
      --local                The local cloud (the default, except with --dry-run).
      --bus NAME             Put the event on an EventBridge bus (source ${'spot-handoff.replay'}).
  status [ID]                Workflows in the table (HANDOFF_TABLE_NAME), or one by workflow or instance id.
      --limit N              How many (default 20).

Every command takes --json for a machine-readable summary. Exit codes: 0 ok, 1 failed, 2 usage.`;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'demo':
        return await demo(rest, io);
      case 'replay':
        return await replay(rest, io);
      case 'status':
        return await status(rest, io);
      case undefined:
        io.err(USAGE);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return 0;
      default:
        throw new CliError(`Unknown command "${command}". Run "handoff help" for the commands.`, 2);
    }
  } catch (error) {
    if (error instanceof CliError || error instanceof ConfigError) {
      io.err(`handoff: ${error.message}`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      io.err(`handoff: ${error.message}. Run "handoff help" for the options.`);
      return 2;
    }
    const e = error as Error;
    io.err(`handoff: ${e.name}: ${e.message}`);
    return 1;
  }
}

const printer = (json: boolean, io: Io) => (json ? () => {} : io.out);

async function demo(rest: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: {
      json: { type: 'boolean' },
      speed: { type: 'string' },
      rebalance: { type: 'boolean' },
      scenario: { type: 'string' },
    },
    strict: true,
  });
  const speed = values.speed === 'max' ? 'manual' : values.speed === undefined ? 10 : Number(values.speed);
  if (speed !== 'manual' && (!Number.isFinite(speed) || speed <= 0 || speed > 1000)) {
    throw new CliError(
      `--speed ${String(values.speed)} is not valid: give a number of local-cloud seconds per real second, 1 to 1000, or max.`,
      2,
    );
  }
  const scenario = values.scenario ?? 'basic';
  if (scenario !== 'basic' && scenario !== 'stateful' && scenario !== 'unhealthy') {
    throw new CliError(`--scenario ${scenario} is not known: use basic, stateful or unhealthy.`, 2);
  }
  const json = values.json === true;
  const { runDemo } = await import('./demo.ts');
  const result = await runDemo({
    speed,
    scenario,
    rebalance: values.rebalance === true,
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
  const { values, positionals } = parseArgs({
    args: rest,
    options: {
      json: { type: 'boolean' },
      instance: { type: 'string' },
      aws: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      bus: { type: 'string' },
      local: { type: 'boolean' },
      scenario: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  const file = positionals[0];
  if (!file || positionals.length > 1)
    throw new CliError(
      'replay takes one event file, e.g. handoff replay events/spot-interruption-warning.json',
      2,
    );
  if (values.bus !== undefined && (values.aws || values['dry-run'])) {
    throw new CliError('--bus puts the event on a bus; it cannot be combined with --aws or --dry-run.', 2);
  }
  const scenario = values.scenario ?? 'basic';
  if (scenario !== 'basic' && scenario !== 'stateful') {
    throw new CliError(`--scenario ${scenario} is not known: use basic or stateful.`, 2);
  }
  const json = values.json === true;
  const dryRun = values['dry-run'] === true;
  const target = values.bus !== undefined ? 'bus' : values.aws || (dryRun && !values.local) ? 'aws' : 'local';
  const { runReplay } = await import('./replay.ts');
  const result = await runReplay({
    file,
    instanceId: values.instance,
    target,
    dryRun,
    busName: values.bus,
    scenario,
    print: printer(json, io),
  });
  if (json) {
    io.out(JSON.stringify(result, null, 2));
    return 0;
  }
  if (target === 'bus') {
    io.out(
      `Put ${result.detailType} for ${result.instanceId} on bus ${values.bus} as event ${result.eventId}.`,
    );
    return 0;
  }
  for (const o of result.outcomes) io.out(`${o.instanceId}: ${o.result}${o.reason ? ` — ${o.reason}` : ''}`);
  for (const i of result.ignored) io.out(`event ${i.eventId} ignored: ${i.reason}`);
  for (const w of result.workflows) {
    io.out(
      `${w.workflowId}: ${w.status}${w.outcome ? ` (${w.outcome})` : ''}${w.replacementId ? `, replacement ${w.replacementId}` : ''}`,
    );
    for (const s of w.steps) io.out(`  ${s.name} ${s.status}${s.detail ? `: ${s.detail}` : ''}`);
    for (const r of w.handover?.resources ?? []) {
      io.out(`  ${r.kind} ${r.id}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
    }
  }
  if (dryRun) {
    io.out(`Plan (dry run, nothing changed): ${result.plan.length} calls`);
    for (const p of result.plan) io.out(`  ${p.service} ${p.action} ${p.outcome}: ${planParams(p)}`);
  }
  return 0;
}

async function status(rest: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: rest,
    options: { json: { type: 'boolean' }, limit: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  if (!Number.isInteger(limit) || limit <= 0)
    throw new CliError(`--limit ${String(values.limit)} is not a positive whole number.`, 2);
  const [{ createClients }, { DynamoWorkflowStore }, { workflowIdFor }, summary] = await Promise.all([
    import('../aws/clients.ts'),
    import('../aws/workflow-store.ts'),
    import('../core/workflow.ts'),
    import('./summary.ts'),
  ]);
  const config = readConfig();
  const store = new DynamoWorkflowStore({
    client: createClients().documentClient,
    tableName: config.tableName,
  });
  const id = positionals[0];
  const workflows = id
    ? [
        (await store.get(id.startsWith('wf-') ? id : workflowIdFor(id))) ??
          (await store.get((await store.workflowOfReplacement(id)) ?? '')),
      ].filter((w) => w !== undefined)
    : await store.list({ limit });
  if (id && workflows.length === 0) throw new CliError(`No workflow for ${id} in table ${config.tableName}.`);
  if (values.json) io.out(JSON.stringify({ workflows: workflows.map(summary.summarize) }, null, 2));
  else if (workflows.length === 0) io.out(`No workflows in table ${config.tableName}.`);
  else for (const w of workflows) io.out(summary.describeWorkflow(w));
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
