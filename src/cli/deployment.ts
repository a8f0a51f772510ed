import {
  CloudFormationClient,
  DescribeStacksCommand,
  type DescribeStacksCommandOutput,
} from '@aws-sdk/client-cloudformation';
import { parseKnownFiles } from '@smithy/core/config';
import { type AwsClients, createClients } from '../aws/clients.ts';
import { errorCode } from '../aws/errors.ts';
import { type Config, readConfig } from '../config.ts';
import { explainAwsError, NO_CREDENTIALS, NO_REGION } from './aws-errors.ts';
import { CliError } from './errors.ts';

/**
 * Where a command that works on a deployment points: a CloudFormation stack (its outputs name the
 * table and the replay bus), or the environment as the functions see it (`HANDOFF_TABLE_NAME` and
 * the SDK's own endpoints: an account, LocalStack, moto). Region and credentials are checked before
 * any call, so their absence is reported as what to do, not as an SDK error.
 */

type Env = Record<string, string | undefined>;

export interface AwsAccess {
  /** Default: the SDK's (`AWS_REGION`, the profile's region). */
  region?: string;
  /** Default: the SDK's (`AWS_PROFILE`, then the default chain). */
  profile?: string;
}

/** The stack outputs the commands read. */
export const STACK_OUTPUTS = {
  table: 'StateTableName',
  replayBus: 'ReplayEventBusName',
} as const;

/** The SDK clients, with the Region and credentials known to be there. */
export async function connect(access: AwsAccess): Promise<{ clients: AwsClients; region: string }> {
  await refuseUnknownProfile(access.profile);
  const clients = createClients({ region: access.region, profile: access.profile });
  const region = await clients.dynamodb.config.region().catch(() => undefined);
  if (!region) throw new CliError(NO_REGION, 2);
  try {
    await clients.dynamodb.config.credentials();
  } catch (error) {
    const named = access.profile ?? process.env['AWS_PROFILE'];
    if (named && errorCode(error) === 'CredentialsProviderError')
      throw new CliError(
        `profile ${named} gives no credentials (${(error as Error).message.replace(/\s+/g, ' ')}): add keys, an SSO session or a role to it (aws configure --profile ${named}; aws sso login --profile ${named} if its SSO session expired), or pass another --profile.`,
      );
    throw new CliError(explainAwsError(error) ?? NO_CREDENTIALS, 1);
  }
  return { clients, region };
}

/**
 * A profile named (`--profile`, else `AWS_PROFILE`) that is in neither shared file is refused as
 * such (exit 2), as the AWS CLI refuses it, before any client is made. The SDK would not: its
 * chain reports an unknown profile as a `CredentialsProviderError` like any other and tries the
 * next source, so on an EC2 instance or in a container a mistyped profile would run the command
 * with the machine's role, perhaps in another account.
 */
async function refuseUnknownProfile(profile: string | undefined): Promise<void> {
  const env = process.env;
  const named = profile ?? env['AWS_PROFILE'];
  if (!named) return;
  const profiles = await parseKnownFiles({ profile: named });
  if (Object.hasOwn(profiles, named)) return;
  const by = profile === undefined ? `AWS_PROFILE=${named}` : `--profile ${named}`;
  throw new CliError(
    `${by}: no such profile in the AWS config or credentials file (${env['AWS_CONFIG_FILE'] ?? '~/.aws/config'}, ${env['AWS_SHARED_CREDENTIALS_FILE'] ?? '~/.aws/credentials'}): aws configure list-profiles lists those there, aws configure --profile ${named} adds it.`,
    2,
  );
}

/** The outputs of a stack, by key. A stack that does not exist is named with the Region looked in. */
export async function stackOutputs(
  client: CloudFormationClient,
  stackName: string,
  region: string,
): Promise<Map<string, string>> {
  let described: DescribeStacksCommandOutput;
  try {
    described = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  } catch (error) {
    // CloudFormation reports a missing stack as a ValidationError.
    if (errorCode(error) === 'ValidationError') {
      throw new CliError(
        `no stack ${stackName} in ${region}: check --stack and --region (aws cloudformation list-stacks lists them).`,
      );
    }
    throw error;
  }
  const stack = described.Stacks?.[0];
  if (!stack) throw new CliError(`no stack ${stackName} in ${region}: check --stack and --region.`);
  return new Map(
    (stack.Outputs ?? []).flatMap((o) =>
      o.OutputKey && o.OutputValue !== undefined ? [[o.OutputKey, o.OutputValue] as const] : [],
    ),
  );
}

/** One output of a stack; `missing` says what to do when the stack does not have it. */
export async function stackOutput(
  client: CloudFormationClient,
  stackName: string,
  region: string,
  key: string,
  missing: string,
): Promise<string> {
  const value = (await stackOutputs(client, stackName, region)).get(key);
  if (!value) throw new CliError(`stack ${stackName} has no output ${key}: ${missing}`);
  return value;
}

export interface DeploymentOptions extends AwsAccess {
  /** The stack whose output names the table; without it, `HANDOFF_TABLE_NAME`. */
  stack?: string;
  env?: Env;
}

export interface Deployment {
  clients: AwsClients;
  region: string;
  /** The functions' configuration, with the stack's table. */
  config: Config;
  /** What the table was found by, for messages. */
  source: string;
}

/** The table of a deployment (by its stack, or `HANDOFF_TABLE_NAME`) and the clients to reach it. */
export async function openDeployment(options: DeploymentOptions): Promise<Deployment> {
  const env = options.env ?? process.env;
  if (!options.stack && !env['HANDOFF_TABLE_NAME']) {
    throw new CliError(
      'no workflow table: pass --stack NAME (the table is its output StateTableName) or set HANDOFF_TABLE_NAME.',
      2,
    );
  }
  const { clients, region } = await connect(options);
  if (!options.stack) {
    return { clients, region, config: readConfig(env), source: 'HANDOFF_TABLE_NAME' };
  }
  const cloudFormation = new CloudFormationClient({
    region,
    ...(options.profile ? { profile: options.profile } : {}),
  });
  try {
    const table = await stackOutput(
      cloudFormation,
      options.stack,
      region,
      STACK_OUTPUTS.table,
      'is it a spot-handoff stack?',
    );
    return {
      clients,
      region,
      config: readConfig({ ...env, HANDOFF_TABLE_NAME: table }),
      source: `stack ${options.stack}`,
    };
  } finally {
    cloudFormation.destroy();
  }
}

/** The replay bus of a stack (deployed with `replayEnabled=true`). */
export async function replayBusOf(stack: string, access: AwsAccess): Promise<string> {
  const { region } = await connect(access);
  const client = new CloudFormationClient({ region, ...(access.profile ? { profile: access.profile } : {}) });
  try {
    return await stackOutput(
      client,
      stack,
      region,
      STACK_OUTPUTS.replayBus,
      'deploy it with --param="replayEnabled=true" and replayPrincipalArns to get a replay bus.',
    );
  } finally {
    client.destroy();
  }
}
