import { readFile } from 'node:fs/promises';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { type AwsClients, createClients } from '../aws/clients.ts';
import { createPlanLog, type PlanEntry } from '../aws/dry-run.ts';
import { awsHandoffDeps } from '../aws/handoff-deps.ts';
import type { Config } from '../config.ts';
import { readAlarmChange } from '../core/alarms.ts';
import type { EventEnvelope } from '../core/events.ts';
import { INSTANCE_ID, InvalidEventError, REPLAY_SOURCE, readEvent } from '../core/events.ts';
import type { InstanceOutcome } from '../core/handoff.ts';
import { type HealingResult, healFromAlarms } from '../core/healing.ts';
import { type IntakeResult, takeEvents } from '../core/intake.ts';
import type { Clock } from '../core/ports.ts';
import { workflowIdFor } from '../core/workflow.ts';
import { consoleLog, noMetrics } from './console-log.ts';
import type { Scenario } from './demo.ts';
import { connect, type DeploymentOptions, openDeployment, replayBusOf } from './deployment.ts';
import { CliError } from './errors.ts';
import { cloudClients, giveFleetState, launchFleet, runUntil, startLocalStack } from './local-stack.ts';
import {
  type AlarmVerdict,
  alarmAbout,
  alarmInstance,
  alarmOnFleet,
  alarmOnInstance,
  isAlarmChange,
  isTargetGroupAlarm,
  verdictOf,
} from './replay-alarm.ts';
import { outcomeOf, summarize, type WorkflowSummary } from './summary.ts';

export type ReplayTarget = 'local' | 'aws' | 'bus';

export interface ReplayOptions {
  file: string;
  instanceId?: string;
  target: ReplayTarget;
  dryRun: boolean;
  /** Event bus for `--bus`; without it, a bus replay goes to the replay bus of `aws.stack`. */
  busName?: string;
  /** The deployment and how to reach it (`--stack`, `--region`, `--profile`). */
  aws: DeploymentOptions;
  /** Keep the event file's own time; by default the event happens now, so deadlines count from now. */
  keepTime: boolean;
  /** Local replays: `stateful` gives the fleet instance state to hand over. */
  scenario: Scenario;
  print: (line: string) => void;
}

export interface ReplayResult {
  ok: boolean;
  target: ReplayTarget;
  dryRun: boolean;
  eventId: string;
  /** The event's time as handled (now, unless `keepTime`). */
  eventTime: string;
  /** Bus replays: the bus the event was put on. */
  busName?: string;
  detailType: string;
  /**
   * The instance the event is pointed at (a local replay: the fleet instance; for a target group
   * alarm, the one failing its health checks); `''` for an alarm that names none, see `about`.
   */
  instanceId: string;
  /** What the event is about, in words: `instance i-…`, or an alarm's `target group targetgroup/…`. */
  about: string;
  functions: string[];
  outcomes: { instanceId: string; result: string; reason?: string }[];
  /** Alarm state changes: what the healing function did about each alarm. */
  healing: AlarmVerdict[];
  workflows: WorkflowSummary[];
  replacementIds: string[];
  plan: PlanEntry[];
  ignored: { eventId: string; reason: string }[];
}

/**
 * Reads and validates the event file; `--instance` points it at another instance, and the event
 * happens `now` unless told to keep its time (a sample's own time is long past: every deadline
 * would count as missed).
 */
async function loadEvent(
  file: string,
  instanceId: string | undefined,
  now: Date | undefined,
): Promise<EventEnvelope> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(
      `Cannot read ${file}: ${(error as Error).message}. Pass the path of an event JSON file, e.g. events/spot-interruption-warning.json.`,
    );
  }
  let event: EventEnvelope;
  try {
    event = JSON.parse(text) as EventEnvelope;
  } catch (error) {
    throw new CliError(`${file} is not JSON: ${(error as Error).message}.`);
  }
  if (instanceId) {
    checkInstanceId(instanceId);
    event = retarget(event, instanceId);
  }
  if (now) event = happeningAt(event, now);
  try {
    if (isAlarmChange(event)) readAlarmChange(event);
    else readEvent(event);
  } catch (error) {
    if (error instanceof InvalidEventError) throw new CliError(`${file}: ${error.message}`);
    throw error;
  }
  return event;
}

function checkInstanceId(instanceId: string): void {
  if (!INSTANCE_ID.test(instanceId)) {
    throw new CliError(
      `--instance ${instanceId} is not an EC2 instance id (i- followed by 8 or 17 hex digits).`,
      2,
    );
  }
}

/** The event as if EventBridge had stamped it at `now`. */
function happeningAt(event: EventEnvelope, now: Date): EventEnvelope {
  return { ...event, time: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
}

/**
 * The event pointed at `instanceId`: an EC2 event's `instance-id` and instance ARN, a status-check
 * alarm's `InstanceId`. An alarm about a target group names no instance to point.
 */
function retarget(event: EventEnvelope, instanceId: string): EventEnvelope {
  if (isAlarmChange(event)) {
    if (alarmInstance(event) === undefined)
      throw new CliError(
        `--instance points an event at an instance, and this alarm is about ${alarmAbout(event)}: leave --instance out.`,
        2,
      );
    return alarmOnInstance(event, instanceId);
  }
  const detail =
    event.detail && typeof event.detail === 'object'
      ? { ...event.detail, 'instance-id': instanceId }
      : event.detail;
  const resources = Array.isArray(event.resources)
    ? event.resources.map((r) => r.replace(/instance\/i-[0-9a-f]+$/, `instance/${instanceId}`))
    : event.resources;
  return { ...event, detail, resources };
}

export async function runReplay(options: ReplayOptions): Promise<ReplayResult> {
  if (options.target === 'bus') return replayOntoBus(options);
  if (options.target === 'aws') return replayDirect(options);
  return replayLocally(options);
}

/** What a function returned: the healing function's result, or an event function's intake. */
interface FunctionResult {
  functionName: string;
  result?: unknown;
}

/** What the functions did, from what they returned. */
function whatHappened(results: FunctionResult[]) {
  const outcomes: InstanceOutcome[] = [];
  const ignored: { eventId: string; reason: string }[] = [];
  const healing: AlarmVerdict[] = [];
  for (const { functionName, result } of results) {
    if (functionName === 'healing') {
      const { alarms, ignored: notForHealing } = result as HealingResult;
      healing.push(...alarms.map(verdictOf));
      outcomes.push(...alarms.flatMap((a) => a.outcomes));
      ignored.push(...notForHealing);
    } else {
      const intake = result as IntakeResult;
      outcomes.push(...intake.outcomes);
      ignored.push(...intake.ignored);
    }
  }
  return {
    outcomes: outcomes.map(outcomeOf),
    workflows: outcomes.flatMap((o) => (o.result === 'workflow' ? [summarize(o.workflow)] : [])),
    ignored,
    healing,
  };
}

/** The instance an event names (`''` for an alarm about a target group) and what it is about, in words. */
function subjectOf(event: EventEnvelope): { instanceId: string; about: string } {
  if (isAlarmChange(event)) return { instanceId: alarmInstance(event) ?? '', about: alarmAbout(event) };
  const instanceId = String(event.detail['instance-id']);
  return { instanceId, about: `instance ${instanceId}` };
}

/** A second's precision, as EventBridge stamps events. */
const toTheSecond = (date: Date) => new Date(Math.floor(date.getTime() / 1000) * 1000);

/**
 * Against the local cloud: a demo fleet, the event through the real handlers, and what follows for
 * a minute. The local cloud's clock starts when the command runs (`keepTime`: at the event's time):
 * the event happens now, once the fleet is up.
 */
async function replayLocally(options: ReplayOptions): Promise<ReplayResult> {
  if (options.instanceId) checkInstanceId(options.instanceId);
  const raw = await loadEvent(options.file, undefined, undefined);
  // The clock starts now, or at the event's own time to keep it (a local cloud has no past).
  const clockStart = options.keepTime ? new Date(raw.time) : toTheSecond(new Date());
  const stack = await startLocalStack({ clock: 'manual', clockStart });
  try {
    const clients = cloudClients(stack);
    const stateful = options.scenario === 'stateful';
    const fleet = await launchFleet(
      stack,
      clients,
      stateful ? { tags: { 'spot-handoff:stateful': 'true' } } : {},
    );
    const instanceId = options.instanceId ?? fleet.instanceIds[0]!;
    if (!fleet.instanceIds.includes(instanceId)) {
      throw new CliError(
        `--instance ${instanceId} is not one of the local fleet's instances (this run's were ${fleet.instanceIds.join(', ')}; they are new on every run): nothing was replayed. Leave --instance out and the replay points the event at a fleet instance itself; to replay against your own instance, use --dry-run, --aws or --stack.`,
        2,
      );
    }
    if (stateful) {
      const state = await giveFleetState(stack, clients.ec2, instanceId);
      options.print(
        `${instanceId} is stateful: volume ${state.volumeId}, interface ${state.networkInterfaceId}, secondary IP ${state.secondaryPrivateIp}, Elastic IP ${state.publicIp}.`,
      );
    }
    options.print(
      `The local cloud has a fresh fleet: ${fleet.instanceIds.join(', ')} in target group ${arnName(fleet.targetGroupArn)}.`,
    );
    let pointed: EventEnvelope;
    if (isAlarmChange(raw)) {
      pointed = await alarmOnFleet(raw, instanceId, fleet, stack);
      options.print(
        `The alarm is about ${alarmAbout(pointed)}${isTargetGroupAlarm(pointed) ? `, the fleet's: ${instanceId} fails its health checks there` : ''}.`,
      );
    } else {
      pointed = retarget(raw, instanceId);
      options.print(`The event now names ${instanceId}.`);
    }
    // The event happens now on the local cloud's clock, which moved on while the fleet started.
    const event = options.keepTime ? pointed : happeningAt(pointed, stack.cloud.clock.now());
    const { about } = subjectOf(event);
    const functions = stack.bus.route(event);
    if (functions.length === 0) {
      throw new CliError(
        `No rule in serverless.yml matches this event (source ${event.source}, detail-type "${event['detail-type']}").`,
      );
    }
    if (options.dryRun) {
      // The plan against the local fleet: the same path as a dry run against an account.
      options.print(
        `Planning ${event['detail-type']} ${event.id} about ${about} at ${event.time} (dry run: nothing changes).`,
      );
      const local = {
        config: stack.config,
        clients: createClients(stack.clients),
        clock: stack.clock,
      };
      return {
        ...(await throughCore(event, options, local)),
        target: 'local',
        instanceId,
        functions,
      };
    }
    options.print(
      `Delivering ${event['detail-type']} ${event.id} about ${about} at ${event.time} to ${functions.join(', ')}.`,
    );
    const firstDelivery = stack.deliveries.length;
    stack.bus.put(event);
    await stack.handlersIdle();
    const own = stack.deliveries.slice(firstDelivery).filter((d) => d.event.id === event.id);
    const failed = own.find((d) => !d.ok);
    if (failed) throw new CliError(`${failed.functionName} failed: ${failed.error?.message}`);
    // Let what the event set in motion (the replacement starting) reach the handlers too.
    const until = stack.cloud.clock.now().getTime() + 60_000;
    await runUntil(stack, () => stack.cloud.clock.now().getTime() >= until, 61_000, 'follow-on events');
    const { outcomes, ignored, healing } = whatHappened(own);
    const workflow = await stack.store.get(workflowIdFor(instanceId));
    const workflows = workflow ? [summarize(workflow)] : [];
    return {
      ok: true,
      target: 'local',
      dryRun: false,
      eventId: event.id,
      eventTime: event.time,
      detailType: event['detail-type'],
      instanceId,
      about,
      functions,
      outcomes,
      healing,
      workflows,
      replacementIds: workflows.flatMap((w) => (w.replacementId ? [w.replacementId] : [])),
      plan: [],
      ignored,
    };
  } finally {
    await stack.stop();
  }
}

/** `targetgroup/web/…` → `web`. */
const arnName = (arn: string) => arn.split('/').at(-2) ?? arn;

/** Through the core with the SDK's credentials and endpoints (AWS, LocalStack, moto, …). */
async function replayDirect(options: ReplayOptions): Promise<ReplayResult> {
  const event = await loadEvent(options.file, options.instanceId, options.keepTime ? undefined : new Date());
  const deployment = await openDeployment(options.aws);
  return throughCore(event, options, { config: deployment.config, clients: deployment.clients });
}

/** The event through the core, with this configuration and these endpoints; a plan if dry. */
async function throughCore(
  event: EventEnvelope,
  options: ReplayOptions,
  target: { config: Config; clients: AwsClients; clock?: Clock },
): Promise<ReplayResult> {
  const plan = options.dryRun ? createPlanLog() : undefined;
  const deps = awsHandoffDeps({
    config: target.config,
    clients: target.clients,
    clock: target.clock,
    log: consoleLog(options.print),
    metrics: noMetrics,
    dryRunPlan: plan,
  });
  // The operator replays with their own credentials: the event's account and Region are taken as
  // the deployment's, and it happens now.
  const now = options.keepTime ? event : happeningAt(event, deps.clock.now());
  const result: FunctionResult = isAlarmChange(now)
    ? { functionName: 'healing', result: await healFromAlarms([now], deps) }
    : {
        functionName: 'interruption',
        result: await takeEvents([now], ['warning', 'rebalance', 'state-change'], deps, {
          account: event.account,
          region: event.region,
        }),
      };
  const { outcomes, workflows, ignored, healing } = whatHappened([result]);
  return {
    ok: true,
    target: 'aws',
    dryRun: options.dryRun,
    eventId: event.id,
    eventTime: event.time,
    detailType: event['detail-type'],
    ...subjectOf(event),
    functions: [],
    outcomes,
    healing,
    workflows,
    replacementIds: workflows.flatMap((w) => (w.replacementId ? [w.replacementId] : [])),
    plan: plan?.entries() ?? [],
    ignored,
  };
}

/**
 * Onto the deployment's replay bus, with the custom source its rules match (PutEvents rejects `aws.`
 * sources). The time is left to EventBridge (now) unless told to keep the file's.
 */
async function replayOntoBus(options: ReplayOptions): Promise<ReplayResult> {
  const event = await loadEvent(options.file, options.instanceId, undefined);
  const busName = options.busName ?? (await replayBusOf(options.aws.stack!, options.aws));
  const { clients } = await connect(options.aws);
  const out = await clients.eventBridge.send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: busName,
          Source: REPLAY_SOURCE,
          DetailType: event['detail-type'],
          Detail: JSON.stringify(event.detail),
          Resources: event.resources,
          ...(options.keepTime ? { Time: new Date(event.time) } : {}),
        },
      ],
    }),
  );
  const entry = out.Entries?.[0];
  if (!entry?.EventId || (out.FailedEntryCount ?? 0) > 0) {
    throw new CliError(
      `PutEvents refused the event on bus ${busName}: ${entry?.ErrorCode ?? 'unknown'}: ${entry?.ErrorMessage ?? ''}. Check the bus name and that your principal is in the stack's replayPrincipalArns.`,
    );
  }
  return {
    ok: true,
    target: 'bus',
    dryRun: false,
    eventId: entry.EventId,
    eventTime: options.keepTime ? event.time : new Date().toISOString(),
    busName,
    detailType: event['detail-type'],
    ...subjectOf(event),
    functions: [],
    outcomes: [],
    healing: [],
    workflows: [],
    replacementIds: [],
    plan: [],
    ignored: [],
  };
}
