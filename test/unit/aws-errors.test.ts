import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import {
  InvalidTargetException,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CAPACITY_ERROR_CODES,
  errorCode,
  isCapacityError,
  isConditionalCheckFailed,
  isDryRunSuccess,
  isInvalidTarget,
  isNotFound,
  isTargetGroupNotFound,
  isThrottle,
  NOT_FOUND_CODES,
  THROTTLE_CODES,
} from '../../src/aws/errors.ts';

const ec2Error = (code: string, message = 'test') =>
  new EC2ServiceException({ name: code, $fault: 'client', $metadata: {}, message });

const predicates = { isNotFound, isCapacityError, isThrottle, isDryRunSuccess, isConditionalCheckFailed };

describe('AWS error sets', () => {
  it.each([
    ['InvalidInstanceID.NotFound', 'isNotFound'],
    ['InvalidVolume.NotFound', 'isNotFound'],
    ['InvalidNetworkInterfaceID.NotFound', 'isNotFound'],
    ['InvalidAllocationID.NotFound', 'isNotFound'],
    ['InvalidAttachmentID.NotFound', 'isNotFound'],
    ['InsufficientInstanceCapacity', 'isCapacityError'],
    ['InsufficientCapacity', 'isCapacityError'],
    ['MaxSpotInstanceCountExceeded', 'isCapacityError'],
    ['SpotMaxPriceTooLow', 'isCapacityError'],
    ['Unsupported', 'isCapacityError'],
    ['UnfulfillableCapacity', 'isCapacityError'],
    ['InsufficientHostCapacity', 'isCapacityError'],
    ['InsufficientReservedInstanceCapacity', 'isCapacityError'],
    ['RequestLimitExceeded', 'isThrottle'],
    ['Throttling', 'isThrottle'],
    ['ThrottlingException', 'isThrottle'],
    ['DryRunOperation', 'isDryRunSuccess'],
  ] as const)('%s is %s and nothing else', (code, expected) => {
    const error = ec2Error(code);

    const matched = Object.entries(predicates)
      .filter(([, predicate]) => predicate(error))
      .map(([name]) => name);

    expect(matched).toEqual([expected]);
  });

  it('recognises the modelled ELBv2 and DynamoDB errors by their SDK names', () => {
    const tgGone = new TargetGroupNotFoundException({ $metadata: {}, message: 'gone' });
    const invalid = new InvalidTargetException({ $metadata: {}, message: 'invalid' });
    const conditional = new ConditionalCheckFailedException({ $metadata: {}, message: 'failed' });

    expect([isNotFound(tgGone), isTargetGroupNotFound(tgGone), isInvalidTarget(tgGone)]).toEqual([
      true,
      true,
      false,
    ]);
    expect([isNotFound(invalid), isInvalidTarget(invalid)]).toEqual([false, true]);
    expect(isConditionalCheckFailed(conditional)).toBe(true);
  });

  it('keeps the sets apart', () => {
    const overlap = [...CAPACITY_ERROR_CODES].filter(
      (code) => NOT_FOUND_CODES.has(code) || THROTTLE_CODES.has(code),
    );

    expect(overlap).toEqual([]);
  });

  it('decides on the name alone, whatever the message says', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...CAPACITY_ERROR_CODES, 'InvalidParameterValue'),
        fc.string(),
        (code, message) => {
          expect(isCapacityError(ec2Error(code, message))).toBe(CAPACITY_ERROR_CODES.has(code));
        },
      ),
    );
    expect(isNotFound(new Error('InvalidInstanceID.NotFound: i-0abc'))).toBe(false);
  });

  it('answers false for anything that is not an error', () => {
    fc.assert(
      fc.property(fc.anything(), (value) => {
        fc.pre(typeof value !== 'object' || value === null || !('name' in value));
        expect([isNotFound(value), isCapacityError(value), isThrottle(value)]).toEqual([false, false, false]);
        expect(errorCode(value)).toBeUndefined();
      }),
    );
  });
});
