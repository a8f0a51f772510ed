import { InvalidEventError, readEvent, type Signal } from './events.ts';
import { handOff, type InstanceOutcome } from './handoff.ts';
import type { HandoffDeps } from './ports.ts';
import type { SignalKind } from './workflow.ts';

export interface IntakeResult {
  outcomes: InstanceOutcome[];
  /** Events that were valid but not for this function, with why. */
  ignored: { eventId: string; reason: string }[];
}

/** An event's id, for the logs, even when the event is invalid. */
export function eventIdOf(event: unknown): string {
  const id = (event as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '(no id)';
}

/**
 * Validates every event first (an invalid one fails the whole call before anything changes), then
 * hands the signals this function accepts to the handoff. Events of other kinds are logged no-ops.
 */
export async function takeEvents(
  events: readonly unknown[],
  accepts: readonly SignalKind[],
  deps: HandoffDeps,
): Promise<IntakeResult> {
  const signals: Signal[] = [];
  const ignored: IntakeResult['ignored'] = [];
  deps.metrics.count('EventsReceived', events.length);
  for (const event of events) {
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
    } else if (!accepts.includes(read.signal.kind)) {
      ignored.push({
        eventId: read.signal.eventId,
        reason: `${read.signal.kind} events are handled by another function`,
      });
    } else {
      signals.push(read.signal);
    }
  }
  for (const { eventId, reason } of ignored) {
    deps.metrics.count('IgnoredEvents');
    deps.log.info(`Event ignored: ${reason}`, { eventId });
  }
  const outcomes = signals.length > 0 ? await handOff(signals, deps) : [];
  return { outcomes, ignored };
}
