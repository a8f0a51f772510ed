import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { PartialItemFailureResponse } from '@aws-lambda-powertools/batch/types';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { isThrottle } from '../aws/errors.ts';
import { eventsOfFailure } from '../core/batch.ts';
import { InvalidEventError, readEvent } from '../core/events.ts';
import { eventIdOf, type IntakeResult, takeEvents } from '../core/intake.ts';
import type { HandoffDeps } from '../core/ports.ts';
import type { Deployment } from '../core/trust.ts';
import { type SignalKind, workflowIdFor } from '../core/workflow.ts';

/**
 * How an event function takes what EventBridge delivers (param `delivery`, infra/delivery.cjs):
 *   - `queue`: a batch of SQS records whose bodies are EventBridge events, handed off together
 *     (shared describes, one DeregisterTargets per target group, fleet launches); the records
 *     whose work is left undone are reported as batch item failures (Powertools batch) and come
 *     back after the visibility timeout — never a failed invocation;
 *   - `direct`: one event per invocation. A failure made only of AWS throttling, once the event's
 *     workflow is recorded, is left to the sweep (which resumes every open workflow each minute)
 *     instead of failing the invocation; any other failure fails it, so Lambda retries it.
 */

export interface DirectResult extends IntakeResult {
  /** The event's workflow is recorded and AWS throttled the rest: the sweep resumes it. */
  leftToSweep?: { eventId: string; reason: string };
}

/** A record reported back to the queue, to be delivered again after its visibility timeout. */
export class RecordRetriedError extends Error {
  override name = 'RecordRetriedError';
}

/** An SQS batch (delivery `queue`): records whose bodies are EventBridge events. */
export const isQueueBatch = (event: unknown): event is SQSEvent =>
  Array.isArray((event as { Records?: unknown } | null)?.Records);

/** The record's EventBridge event; a body that is not JSON is passed on as is (and is invalid). */
function bodyOf(record: SQSRecord): unknown {
  try {
    return JSON.parse(record.body);
  } catch {
    return record.body;
  }
}

/** Why the event is invalid, or undefined when it reads. */
function invalidity(event: unknown): InvalidEventError | undefined {
  try {
    readEvent(event);
    return undefined;
  } catch (error) {
    if (error instanceof InvalidEventError) return error;
    throw error;
  }
}

/** Every leaf of a failure (AggregateErrors opened). */
function leaves(error: unknown): unknown[] {
  return error instanceof AggregateError ? error.errors.flatMap(leaves) : [error];
}

const errorText = (error: unknown) =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * A queue's batch: every valid event handed off in one call; the records to deliver again (an
 * invalid body, or work a failure left undone) reported as batch item failures.
 */
export async function takeQueuedEvents(
  batch: SQSEvent,
  accepts: readonly SignalKind[],
  deps: HandoffDeps,
  deployment: Deployment,
  context: Context,
): Promise<PartialItemFailureResponse> {
  const events = new Map(batch.Records.map((record) => [record.messageId, bodyOf(record)]));
  const invalid = new Map<string, InvalidEventError>();
  for (const [messageId, event] of events) {
    const reason = invalidity(event);
    if (reason !== undefined) invalid.set(messageId, reason);
  }
  const valid = [...events].filter(([messageId]) => !invalid.has(messageId)).map(([, event]) => event);
  let undone: Set<string> | 'every' = new Set();
  try {
    await takeEvents(valid, accepts, deps, deployment);
  } catch (error) {
    undone = eventsOfFailure(error) ?? 'every';
    const throttled = leaves(error).every(isThrottle);
    deps.metrics.count('RecordsRetried', undone === 'every' ? valid.length : undone.size);
    deps.log.warn('Part of the batch is left undone; its records come back after the visibility timeout.', {
      records: undone === 'every' ? valid.length : undone.size,
      throttled,
      error: errorText(error),
    });
  }
  return processPartialResponse(
    batch,
    async (record: SQSRecord) => {
      const invalidEvent = invalid.get(record.messageId);
      if (invalidEvent) throw invalidEvent;
      const eventId = eventIdOf(events.get(record.messageId));
      if (undone === 'every' || undone.has(eventId)) {
        throw new RecordRetriedError(
          `Event ${eventId} left undone; delivered again after the visibility timeout.`,
        );
      }
    },
    new BatchProcessor(EventType.SQS),
    { context, throwOnFullBatchFailure: false },
  );
}

/**
 * One event (delivery `direct`). A failure made only of throttling, once the event's workflow is
 * recorded, is left to the sweep; any other fails the invocation.
 */
export async function takeDirectEvent(
  event: unknown,
  accepts: readonly SignalKind[],
  deps: HandoffDeps,
  deployment: Deployment,
): Promise<DirectResult> {
  try {
    return await takeEvents([event], accepts, deps, deployment);
  } catch (error) {
    if (!leaves(error).every(isThrottle) || !(await workflowRecorded(event, deps))) throw error;
    const eventId = eventIdOf(event);
    const reason = 'AWS throttled the work; the workflow is recorded and the sweep resumes it.';
    deps.metrics.count('ThrottledWorkLeftToSweep');
    deps.log.warn(reason, { eventId, error: errorText(error) });
    return { outcomes: [], ignored: [], refused: [], leftToSweep: { eventId, reason } };
  }
}

/** Whether the workflow the event belongs to (its instance's, or the one its instance replaces) is recorded. */
async function workflowRecorded(event: unknown, deps: HandoffDeps): Promise<boolean> {
  let instanceId: string;
  try {
    const read = readEvent(event);
    if (!('signal' in read)) return false;
    instanceId = read.signal.instanceId;
  } catch {
    return false;
  }
  if (await deps.store.get(workflowIdFor(instanceId))) return true;
  return (await deps.store.workflowOfReplacement(instanceId)) !== undefined;
}
