import * as z from 'zod/mini';
import { INSTANCE_STATES, type InstanceState } from './facts.ts';
import { builtOnFirstUse } from './schema-messages.ts';
import type { CarefulKind } from './workflow.ts';

/**
 * The events we react to, validated against the shapes AWS sends (see `events/` for samples).
 * A valid event of a kind we do not handle is ignored, never an error.
 */

/** Custom source for replayed events: `PutEvents` rejects sources starting with `aws.`. */
export const REPLAY_SOURCE = 'spot-handoff.replay';

export const DETAIL_TYPES = {
  warning: 'EC2 Spot Instance Interruption Warning',
  rebalance: 'EC2 Instance Rebalance Recommendation',
  stateChange: 'EC2 Instance State-change Notification',
} as const;

/** An EC2 instance id: `i-` and 8 or 17 hex digits. */
export const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** The schemas of the events, built on first use. */
const eventSchemas = builtOnFirstUse(() => {
  const instanceId = z
    .string()
    .check(z.regex(INSTANCE_ID, 'must be an EC2 instance id such as i-0123456789abcdef0'));
  return {
    /** The EventBridge envelope every event shares. */
    envelope: z.object({
      /** Real deliveries carry `"0"`; AWS's documented state-change example has none. */
      version: z.optional(z.string()),
      id: z.string().check(z.minLength(1), z.maxLength(256)),
      'detail-type': z.string().check(z.minLength(1)),
      source: z.string().check(z.minLength(1)),
      account: z.string().check(z.regex(/^\d{12}$/, 'must be a 12-digit AWS account id')),
      time: z.iso.datetime({ offset: true }),
      region: z.string().check(z.minLength(1)),
      resources: z.array(z.string()),
      detail: z.record(z.string(), z.unknown()),
    }),
    warningDetail: z.object({
      'instance-id': instanceId,
      'instance-action': z.enum(['terminate', 'stop', 'hibernate']),
    }),
    rebalanceDetail: z.object({ 'instance-id': instanceId }),
    stateChangeDetail: z.object({ 'instance-id': instanceId, state: z.enum(INSTANCE_STATES) }),
  };
});

export type EventEnvelope = z.infer<ReturnType<typeof eventSchemas>['envelope']>;

/**
 * Validates the EventBridge envelope every event shares.
 * @throws InvalidEventError naming the first bad field.
 */
export function parseEnvelope(raw: unknown): EventEnvelope {
  return parse(eventSchemas().envelope, raw, []);
}

interface SignalBase {
  instanceId: string;
  eventId: string;
  /** When AWS says it happened. */
  time: string;
  /** Came in as a replay (source `spot-handoff.replay`), not from EC2. */
  replayed?: boolean;
}

/** What an event tells us, reduced to what the workflow needs. */
export type Signal =
  | (SignalBase & { kind: 'warning'; instanceAction: 'terminate' | 'stop' | 'hibernate' })
  | (SignalBase & { kind: 'rebalance' })
  | (SignalBase & { kind: 'state-change'; state: InstanceState })
  /**
   * Not from an event: the instance is re-examined from what EC2 says. `workflowOf: 'instance'`
   * (the periodic sweep) names the workflow by its own instance; without it (an untimely event) a
   * replacement's re-examination goes to the workflow it replaces, as its event would.
   */
  | (SignalBase & { kind: 'sweep'; workflowOf?: 'instance' })
  /** Not from an EC2 event: a careful replace was asked for (healing, rebalance policy, pool action…). */
  | (SignalBase & { kind: 'replace'; replaceKind: CarefulKind; reason: string });

/** An event that does not match the AWS shape. Nothing is changed for it. */
export class InvalidEventError extends Error {
  override name = 'InvalidEventError';
  constructor(
    message: string,
    readonly field: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type ReadEvent = { signal: Signal } | { ignored: string };

function fail(error: z.core.$ZodError, prefix: string[]): never {
  const issue = error.issues[0];
  const field = [...prefix, ...(issue?.path ?? []).map(String)].join('.') || '(event)';
  throw new InvalidEventError(
    `Invalid event: field "${field}" ${issue?.message ?? 'is invalid'}. Send the event exactly as AWS does (see events/ for samples).`,
    field,
    { cause: error },
  );
}

/** Parses `value` (found at `prefix` in the event) or throws an {@link InvalidEventError} naming the field. */
export function parse<T>(schema: z.ZodMiniType<T>, value: unknown, prefix: string[]): T {
  const result = schema.safeParse(value);
  if (!result.success) fail(result.error, prefix);
  return result.data;
}

const HANDLED_SOURCES = new Set(['aws.ec2', REPLAY_SOURCE]);

/**
 * Validates one event and reads its signal.
 * @throws InvalidEventError naming the first bad field.
 * @example readEvent(sample) // → { signal: { kind: 'warning', instanceId: 'i-0…', … } }
 */
export function readEvent(raw: unknown): ReadEvent {
  const event = parseEnvelope(raw);
  if (!HANDLED_SOURCES.has(event.source)) return { ignored: `source ${event.source} is not handled` };
  const base = {
    eventId: event.id,
    time: event.time,
    ...(event.source === REPLAY_SOURCE ? { replayed: true } : {}),
  };
  switch (event['detail-type']) {
    case DETAIL_TYPES.warning: {
      const detail = parse(eventSchemas().warningDetail, event.detail, ['detail']);
      return {
        signal: {
          ...base,
          kind: 'warning',
          instanceId: detail['instance-id'],
          instanceAction: detail['instance-action'],
        },
      };
    }
    case DETAIL_TYPES.rebalance: {
      const detail = parse(eventSchemas().rebalanceDetail, event.detail, ['detail']);
      return { signal: { ...base, kind: 'rebalance', instanceId: detail['instance-id'] } };
    }
    case DETAIL_TYPES.stateChange: {
      const detail = parse(eventSchemas().stateChangeDetail, event.detail, ['detail']);
      return {
        signal: { ...base, kind: 'state-change', instanceId: detail['instance-id'], state: detail.state },
      };
    }
    default:
      return { ignored: `detail-type "${event['detail-type']}" is not handled` };
  }
}
