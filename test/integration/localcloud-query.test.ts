import { describe, expect, it } from 'vitest';
import { AwsError } from '../../localcloud/contracts.ts';
import { EC2_DIALECT, pageOf as ec2Page } from '../../localcloud/ec2/query.ts';
import { ELBV2_DIALECT, pageOf as elbv2Page } from '../../localcloud/elbv2/query.ts';
import { Params } from '../../localcloud/query.ts';

/** What a call threw, as the SDK would see it: code and message. */
function failure(call: () => unknown): { code: string; message: string } {
  try {
    call();
  } catch (error) {
    if (error instanceof AwsError) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an AwsError');
}

describe('Query parameters, one reader for both services', () => {
  it('reads EC2 lists (Name.N) and ELBv2 lists (Name.member.N) in number order', () => {
    const ec2 = new Params(
      { 'InstanceId.10': 'i-c', 'InstanceId.2': 'i-b', 'InstanceId.1': 'i-a' },
      EC2_DIALECT,
    );
    const elbv2 = new Params(
      {
        'Targets.member.2.Id': '10.0.0.2',
        'Targets.member.1.Id': '10.0.0.1',
        'Targets.member.1.Port': '8080',
      },
      ELBV2_DIALECT,
    );

    expect(ec2.strings('InstanceId')).toEqual(['i-a', 'i-b', 'i-c']);
    expect(elbv2.structs('Targets').map((t) => [t.get('Id'), t.int('Port')])).toEqual([
      ['10.0.0.1', 8080],
      ['10.0.0.2', undefined],
    ]);
  });

  it('words a missing or out-of-range parameter the way each service does', () => {
    const ec2 = new Params({ MaxResults: '2' }, EC2_DIALECT);
    const elbv2 = new Params({ 'Targets.member.1.Port': '0' }, ELBV2_DIALECT);

    expect(failure(() => ec2.required('ImageId'))).toEqual({
      code: 'MissingParameter',
      message: 'The request must contain the parameter ImageId',
    });
    expect(failure(() => ec2Page([1, 2, 3], ec2))).toEqual({
      code: 'InvalidParameterValue',
      message: 'Value ( 2 ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.',
    });
    expect(failure(() => elbv2.required('TargetGroupArn'))).toEqual({
      code: 'ValidationError',
      message:
        "1 validation error detected: Value null at 'targetGroupArn' failed to satisfy constraint: Member must not be null",
    });
    expect(failure(() => elbv2.structs('Targets')[0]!.int('Port', { min: 1, max: 65535 }))).toEqual({
      code: 'ValidationError',
      message:
        "1 validation error detected: Value '0' at 'port' failed to satisfy constraint: Member must have value greater than or equal to 1",
    });
  });
});

describe('paginate', () => {
  it('EC2 pages by position until the last page, which has no token', () => {
    const items = Array.from({ length: 12 }, (_, i) => i);
    const first = ec2Page(items, new Params({ MaxResults: '5' }, EC2_DIALECT));
    const second = ec2Page(items, new Params({ MaxResults: '5', NextToken: first.next! }, EC2_DIALECT));
    const last = ec2Page(items, new Params({ MaxResults: '5', NextToken: second.next! }, EC2_DIALECT));

    expect([first.items, second.items, last.items]).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
      [10, 11],
    ]);
    expect(last.next).toBeUndefined();
    expect(
      failure(() => ec2Page(items, new Params({ NextToken: 'bm90LWEtdG9rZW4' }, EC2_DIALECT))).code,
    ).toBe('InvalidPaginationToken');
  });

  it('ELBv2 pages by the next key: removing an item between pages neither skips nor repeats another', () => {
    const names = ['a', 'b', 'c', 'd', 'e'];
    const first = elbv2Page(names, new Params({ PageSize: '2' }, ELBV2_DIALECT), (name) => name);
    const afterDelete = names.filter((name) => name !== 'a');
    const second = elbv2Page(
      afterDelete,
      new Params({ PageSize: '2', Marker: first.next! }, ELBV2_DIALECT),
      (name) => name,
    );

    expect(first.items).toEqual(['a', 'b']);
    expect(second.items).toEqual(['c', 'd']);
    expect(
      failure(() => elbv2Page(names, new Params({ Marker: 'bm9wZQ' }, ELBV2_DIALECT), (n) => n)),
    ).toEqual({
      code: 'ValidationError',
      message: "Invalid marker 'bm9wZQ'",
    });
  });
});
