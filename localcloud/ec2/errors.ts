import { AwsError } from '../contracts.ts';

/** EC2 errors, with the codes and messages EC2 uses. */

export const missingParameter = (name: string) =>
  new AwsError('MissingParameter', `The request must contain the parameter ${name}`);

export const invalidParameterValue = (message: string) => new AwsError('InvalidParameterValue', message);

export const invalidParameterCombination = (message: string) =>
  new AwsError('InvalidParameterCombination', message);

export const dryRunOperation = () =>
  new AwsError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);

export const incorrectInstanceState = (
  instanceId: string,
  state: string,
  operation = 'used for this operation',
) =>
  new AwsError(
    'IncorrectInstanceState',
    `The instance '${instanceId}' is not in a state from which it can be ${operation} (current state: ${state}).`,
  );

export const incorrectState = (message: string) => new AwsError('IncorrectState', message);

export const idempotentParameterMismatch = (token: string) =>
  new AwsError(
    'IdempotentParameterMismatch',
    `The client token ${token} has already been used with different parameters.`,
  );

export const operationNotPermitted = (message: string) => new AwsError('OperationNotPermitted', message);

/** `The instance ID 'i-1' does not exist` / `The instance IDs 'i-1, i-2' do not exist` */
export function instancesNotFound(ids: readonly string[]): AwsError {
  return ids.length === 1
    ? new AwsError('InvalidInstanceID.NotFound', `The instance ID '${ids[0]}' does not exist`)
    : new AwsError('InvalidInstanceID.NotFound', `The instance IDs '${ids.join(', ')}' do not exist`);
}

const notFoundMessages: Record<string, (id: string) => string> = {
  'InvalidVolume.NotFound': (id) => `The volume '${id}' does not exist.`,
  'InvalidSnapshot.NotFound': (id) => `The snapshot '${id}' does not exist.`,
  'InvalidNetworkInterfaceID.NotFound': (id) => `The networkInterface ID '${id}' does not exist`,
  'InvalidAllocationID.NotFound': (id) => `The allocation ID '${id}' does not exist`,
  'InvalidAssociationID.NotFound': (id) => `The association ID '${id}' does not exist`,
  'InvalidAttachmentID.NotFound': (id) => `The attachment ID '${id}' does not exist`,
  'InvalidVpcID.NotFound': (id) => `The vpc ID '${id}' does not exist`,
  'InvalidSubnetID.NotFound': (id) => `The subnet ID '${id}' does not exist`,
  'InvalidLaunchTemplateId.NotFound': (id) =>
    `The specified launch template, with template ID ${id}, does not exist.`,
  'InvalidLaunchTemplateName.NotFoundException': (name) =>
    `The specified launch template, with template name ${name}, does not exist.`,
  'InvalidAddress.NotFound': (ip) => `Address '${ip}' not found.`,
};

export function notFound(code: keyof typeof notFoundMessages | string, id: string): AwsError {
  const message = notFoundMessages[code]?.(id) ?? `The ID '${id}' does not exist`;
  return new AwsError(code, message);
}

/** `Invalid id: "foo" (expecting "i-...")` */
export function malformed(code: string, id: string, prefix: string): AwsError {
  return new AwsError(code, `Invalid id: "${id}" (expecting "${prefix}-...")`);
}
