import type { InstanceOutcome } from './batch.ts';
import { InvalidEventError, readEvent, type Signal } from './events.ts';
import { handOff } from './handoff.ts';
import type { HandoffDeps } from './ports.ts';
import { type Deployment, quoted, refusalOf, untimely } from './trust.ts';
import type { SignalKind } from './workflow.ts';

export interface IntakeResult {
  outcomes: InstanceOutcome[];
  /** Events that were valid but not for this function, with why. */
  ignored: { eventId: string; reason: string }[];
  /** Events not acted on because they are not this deployment's own (trust boundary), with why. */
  refused: { eventId: string; reason: string }[];
}

/** An event's id, for the logs, even when the event is invalid. */
export function eventIdOf(event: unknown): string {
  const id = (event as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? quoted(id).slice(1, -1) : '(no id)';
}

/**
 * Takes the events of one invocation, each in turn:
 *   1. refuses what is not this deployment's own — too large or too deep, another account or
 *      Region: a logged, counted no-op, never an error (a retry would not make it ours);
 *   2. validates the rest (an invalid one fails the whole call before anything changes);
 *   3. reads an untimely event (dated far from now) as a re-examination of its instance: it may
 *      advance an existing workflow from what EC2 says, never start one;
 *   4. hands the signals this function accepts to the handoff. Events of other kinds are logged no-ops.
 */
export async function takeEvents(
  events: readonly unknown[],
  accepts: readonly SignalKind[],
  deps: HandoffDeps,
  deployment: Deployment,
): Promise<IntakeResult> {
  const signals: Signal[] = [];
  const ignored: IntakeResult['ignored'] = [];
  const refused: IntakeResult['refused'] = [];
  const trust = deps.settings.events;
  deps.metrics.count('EventsReceived', events.length);
  for (const event of events) {
    const refusal = refusalOf(event, deployment, trust);
    if (refusal) {
      refused.push({ eventId: eventIdOf(event), reason: refusal });
      continue;
    }
    let read: ReturnType<typeof readEvent>;
    try {
      read = readEvent(event);
    } catch (error) {
      if (error instanceof InvalidEventError) {
        deps.metrics.count('InvalidEvents');
        deps.log.error(error.message, { eventId: eventIdOf(event), field: error.field });
      }
      throw error;
    }
    if ('ignored' in read) {
      ignored.push({ eventId: eventIdOf(event), reason: read.ignored });
      continue;
    }
    const { signal } = read;
    if (!accepts.includes(signal.kind)) {
      ignored.push({
        eventId: signal.eventId,
        reason: `${signal.kind} events are handled by another function`,
      });
      continue;
    }
    const log = deps.log.with({ instanceId: signal.instanceId });
    if (signal.replayed) log.info('Replayed event accepted.', { eventId: signal.eventId, replayed: true });
    const late = untimely(signal.time, deps.clock.now(), trust);
    if (late) {
      deps.metrics.count('UntimelyEvents');
      log.warn(
        `Untimely event (${late}): it may advance an existing workflow from what EC2 says, never start one.`,
        { eventId: signal.eventId, kind: signal.kind },
      );
      const now = deps.clock.now().toISOString();
      signals.push({ kind: 'sweep', instanceId: signal.instanceId, eventId: signal.eventId, time: now });
      continue;
    }
    signals.push(signal);
  }
  for (const { eventId, reason } of ignored) {
    deps.metrics.count('IgnoredEvents');
    deps.log.info(`Event ignored: ${reason}`, { eventId });
  }
  for (const { eventId, reason } of refused) {
    deps.metrics.count('RefusedEvents');
    deps.log.warn(`Event refused, nothing done: ${reason}.`, { eventId, reason });
  }
  const outcomes = signals.length > 0 ? await handOff(signals, deps) : [];
  return { outcomes, ignored, refused };
}
