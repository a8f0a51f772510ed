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
import { explainAwsError, explainFailure } from '../../src/cli/aws-errors.ts';
import { CliError } from '../../src/cli/errors.ts';

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

/** A refused connection as Node reports it: a plain Error whose `code` says what happened. */
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });

describe('the handoff command explains a failure in one line', () => {
  it('an unreachable endpoint: says AWS did not answer and what to check', () => {
    expect(explainAwsError(refused())).toBe(
      'AWS did not answer (ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9): check the network, --region and any AWS_ENDPOINT_URL_* setting.',
    );
  });

  it("parts that all failed for one cause (the sweep's four on an unreachable endpoint): that cause once", () => {
    const sweep = new AggregateError([refused(), refused(), refused(), refused()], '4 parts failed');

    expect(explainFailure(sweep, 'parts of the sweep')).toBe(explainAwsError(refused()));
  });

  it('parts that failed for different causes: how many failed, then each cause once, nested ones opened', () => {
    const denied = ec2Error('UnauthorizedOperation', 'not allowed');
    const sweep = new AggregateError(
      [refused(), new AggregateError([denied, refused()], 'a page'), new RangeError('bad\nthing')],
      '3 parts failed',
    );

    const said = explainFailure(sweep, 'parts of the sweep');

    expect(said).toBe(
      `3 parts of the sweep failed: (1) ${explainAwsError(refused())} (2) ${explainAwsError(denied)} (3) RangeError: bad thing`,
    );
    expect(said).not.toContain('\n');
  });

  it('a refusal of the command says its own message; anything else its name and message', () => {
    expect(explainFailure(new CliError('no workflow table: pass --stack NAME.', 2))).toBe(
      'no workflow table: pass --stack NAME.',
    );
    expect(explainFailure(new TypeError('x is not a function'))).toBe('TypeError: x is not a function');
    expect(explainFailure('thrown text')).toBe('thrown text');
  });
});
