import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { explainAwsError } from '../../src/cli/aws-errors.ts';
import { STACK_OUTPUTS, stackOutput, stackOutputs } from '../../src/cli/deployment.ts';
import { CliError } from '../../src/cli/errors.ts';

const cloudFormation = mockClient(CloudFormationClient);
const client = new CloudFormationClient({ region: 'eu-west-1' });

/** An error as the SDK throws it: a name, a message, and the service's metadata. */
function serviceError(name: string, message: string): Error {
  return Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });
}

afterEach(() => cloudFormation.reset());

describe('stack outputs', () => {
  it('finds the table by its output key', async () => {
    // Prepare
    cloudFormation.on(DescribeStacksCommand, { StackName: 'spot-handoff-prod' }).resolves({
      Stacks: [
        {
          StackName: 'spot-handoff-prod',
          StackStatus: 'UPDATE_COMPLETE',
          CreationTime: new Date(),
          Outputs: [
            { OutputKey: 'StateTableName', OutputValue: 'spot-handoff-prod-StateTable-1A2B' },
            { OutputKey: 'ReplayEventBusName', OutputValue: 'spot-handoff-prod-replay' },
          ],
        },
      ],
    });

    // Act
    const table = await stackOutput(client, 'spot-handoff-prod', 'eu-west-1', STACK_OUTPUTS.table, 'x');
    const all = await stackOutputs(client, 'spot-handoff-prod', 'eu-west-1');

    // Assess
    expect(table).toBe('spot-handoff-prod-StateTable-1A2B');
    expect(all.get(STACK_OUTPUTS.replayBus)).toBe('spot-handoff-prod-replay');
  });

  it('a stack without the output: says which output and what to do', async () => {
    cloudFormation.on(DescribeStacksCommand).resolves({
      Stacks: [{ StackName: 'app', StackStatus: 'CREATE_COMPLETE', CreationTime: new Date(), Outputs: [] }],
    });

    const failure = stackOutput(
      client,
      'app',
      'eu-west-1',
      STACK_OUTPUTS.replayBus,
      'deploy it with --param="replayEnabled=true".',
    );

    await expect(failure).rejects.toBeInstanceOf(CliError);
    await expect(failure).rejects.toThrow(
      'stack app has no output ReplayEventBusName: deploy it with --param="replayEnabled=true".',
    );
  });

  it('a stack that does not exist (CloudFormation says ValidationError): names the stack and the Region', async () => {
    cloudFormation
      .on(DescribeStacksCommand)
      .rejects(serviceError('ValidationError', 'Stack with id nope does not exist'));

    await expect(stackOutputs(client, 'nope', 'eu-west-1')).rejects.toThrow(
      'no stack nope in eu-west-1: check --stack and --region',
    );
  });

  it('access denied: passed on, and explained in one line with what to do', async () => {
    const denied = serviceError(
      'AccessDenied',
      'User: arn:aws:iam::123456789012:user/ops is not authorized to perform:\ncloudformation:DescribeStacks',
    );
    cloudFormation.on(DescribeStacksCommand).rejects(denied);

    const error = await stackOutputs(client, 'spot-handoff-prod', 'eu-west-1').catch((e: unknown) => e);

    const explained = explainAwsError(error);
    expect(explained).toMatch(
      /^access denied \(AccessDenied: .*cloudformation:DescribeStacks\): use credentials/,
    );
    expect(explained).not.toContain('\n');
  });
});

describe('AWS errors explained', () => {
  it('says what to do about missing or refused credentials, by the error name', () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(explainAwsError(missing)).toMatch(/^no credentials: pass --profile or set AWS_PROFILE/);
    expect(explainAwsError(serviceError('ExpiredTokenException', 'expired'))).toMatch(
      /^AWS refused the credentials .*--profile/,
    );
    expect(explainAwsError(new Error('something else'))).toBeUndefined();
  });
});
