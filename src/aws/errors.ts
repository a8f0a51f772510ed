/**
 * AWS error codes grouped by what they mean to the handoff, with predicates. Errors are recognised
 * by `error.name` only, never by message text.
 *
 * EC2 errors are not modelled in the SDK: the thrown error's `name` is the wire code
 * (`InvalidInstanceID.NotFound`). ELBv2 errors are modelled: the wire code `TargetGroupNotFound`
 * arrives as `TargetGroupNotFoundException`. The sets hold both spellings where they differ.
 */

/** The `name` of an error thrown by the SDK, or undefined for anything that is not an error. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

function matcher(codes: ReadonlySet<string>): (error: unknown) => boolean {
  return (error) => {
    const code = errorCode(error);
    return code !== undefined && codes.has(code);
  };
}

/** The named resource does not exist (any more). */
export const NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidVolume.NotFound',
  'InvalidNetworkInterfaceID.NotFound',
  'InvalidAllocationID.NotFound',
  'InvalidAssociationID.NotFound',
  'InvalidAttachmentID.NotFound',
  'InvalidAttachment.NotFound',
  'InvalidLaunchTemplateId.NotFound',
  'InvalidLaunchTemplateName.NotFoundException',
  'TargetGroupNotFound',
  'TargetGroupNotFoundException',
  'LoadBalancerNotFound',
  'LoadBalancerNotFoundException',
]);

/** EC2 cannot launch this request now: retry later, in another pool, or give up. */
export const CAPACITY_ERROR_CODES: ReadonlySet<string> = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'MaxSpotInstanceCountExceeded',
  'SpotMaxPriceTooLow',
  'Unsupported',
  'UnfulfillableCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
]);

/**
 * The account's request rate is over its limit (the SDK retries these itself in standard mode), or
 * our own budget had no token left before the invocation's deadline (`api-budget.ts`; not sent).
 */
export const THROTTLE_CODES: ReadonlySet<string> = new Set([
  'ApiBudgetExhausted',
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
]);

/** The target group does not exist (any more). A subset of {@link NOT_FOUND_CODES}. */
export const TARGET_GROUP_NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'TargetGroupNotFound',
  'TargetGroupNotFoundException',
]);

/** A target that cannot be (de)registered because it is not a valid target any more, e.g. a terminated instance. */
export const INVALID_TARGET_CODES: ReadonlySet<string> = new Set(['InvalidTarget', 'InvalidTargetException']);

/**
 * The attachment named does not exist (any more): a volume not attached to that instance
 * (`InvalidAttachment.NotFound`), an interface attachment id EC2 does not know (`InvalidAttachmentID.NotFound`).
 * A subset of {@link NOT_FOUND_CODES}.
 */
export const ATTACHMENT_NOT_FOUND_CODES: ReadonlySet<string> = new Set([
  'InvalidAttachment.NotFound',
  'InvalidAttachmentID.NotFound',
]);

/**
 * A volume cannot be attached now: it is attached or attaching somewhere (`VolumeInUse`), or not
 * `available` (`IncorrectState`). Maybe to the very instance asked for: look before calling it a conflict.
 */
export const VOLUME_ATTACH_CONFLICT_CODES: ReadonlySet<string> = new Set(['VolumeInUse', 'IncorrectState']);

/**
 * An interface cannot be attached now: it is in use, the device index is taken
 * (`InvalidParameterValue`), or it is not in a state to attach. Maybe by the very attachment asked for.
 */
export const INTERFACE_ATTACH_CONFLICT_CODES: ReadonlySet<string> = new Set([
  'InvalidNetworkInterface.InUse',
  'InvalidParameterValue',
  'IncorrectState',
]);

export const isNotFound = matcher(NOT_FOUND_CODES);
export const isCapacityError = matcher(CAPACITY_ERROR_CODES);
export const isThrottle = matcher(THROTTLE_CODES);
export const isTargetGroupNotFound = matcher(TARGET_GROUP_NOT_FOUND_CODES);
export const isInvalidTarget = matcher(INVALID_TARGET_CODES);
export const isAttachmentNotFound = matcher(ATTACHMENT_NOT_FOUND_CODES);
export const isVolumeAttachConflict = matcher(VOLUME_ATTACH_CONFLICT_CODES);
export const isInterfaceAttachConflict = matcher(INTERFACE_ATTACH_CONFLICT_CODES);
/** The resource is not in a state that allows the call, e.g. detaching a volume that is `available`. */
export const isIncorrectState = matcher(new Set(['IncorrectState']));
/** A `DryRun: true` request that would have succeeded. */
export const isDryRunSuccess = matcher(new Set(['DryRunOperation']));
/** A DynamoDB conditional write whose condition did not hold. */
export const isConditionalCheckFailed = matcher(new Set(['ConditionalCheckFailedException']));

/** Base of the errors the AWS adapters throw themselves. */
export class AwsAdapterError extends Error {
  override name = 'AwsAdapterError';
}

/** AWS answered, but without something the adapter cannot do without (e.g. RunInstances without an instance id). */
export class UnexpectedResponseError extends AwsAdapterError {
  override name = 'UnexpectedResponseError';
}

/** A replacement instance is already linked to a different workflow. */
export class ReplacementClaimedError extends AwsAdapterError {
  override name = 'ReplacementClaimedError';
  constructor(
    readonly replacementId: string,
    readonly workflowId: string,
    readonly claimedBy: string | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `Replacement ${replacementId} cannot be linked to workflow ${workflowId}: it already belongs to ` +
        `${claimedBy === undefined ? 'another workflow' : `workflow ${claimedBy}`}.`,
      options,
    );
  }
}

/** Asked to terminate an instance that does not carry the managed tag: nothing was terminated. */
export class UnmanagedInstanceError extends AwsAdapterError {
  override name = 'UnmanagedInstanceError';
}
