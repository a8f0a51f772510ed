import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigError } from '../config.ts';
import type { ApiBudget } from './api-budget.ts';

/** Attempts per call (first try included) when `AWS_MAX_ATTEMPTS` is not set. */
export const DEFAULT_MAX_ATTEMPTS = 5;

/** The clients the handoff's adapters use: all a function builds. */
export interface HandoffClients {
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  dynamodb: DynamoDBClient;
  /** Over `dynamodb`; removes undefined values when marshalling. */
  documentClient: DynamoDBDocumentClient;
}

/** The handoff's clients and EventBridge's, which only the `handoff` command uses (`replay --bus`). */
export interface AwsClients extends HandoffClients {
  eventBridge: EventBridgeClient;
}

export interface CreateClientsOptions {
  /** Default: the SDK's own resolution (`AWS_REGION`, profile, …). */
  region?: string;
  /** Where `AWS_MAX_ATTEMPTS` is read; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Per service (the local cloud's); default: the SDK's own resolution (`AWS_ENDPOINT_URL_*`). */
  endpoints?: Partial<Record<Exclude<keyof AwsClients, 'documentClient'>, string>>;
  /** Default: the SDK's credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** A profile of the shared config and credentials files, for credentials and Region; default `AWS_PROFILE`. */
  profile?: string;
  /** Every EC2 and ELBv2 request waits for a token of this budget before it is sent; default none. */
  apiBudget?: ApiBudget;
}

/**
 * The SDK clients, to be built once per container at cold start and shared by every invocation.
 * Standard retry mode (backoff with jitter, throttles retried) with `AWS_MAX_ATTEMPTS` attempts,
 * default 5. Endpoints follow the SDK's own `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`
 * handling unless `endpoints` names them (the local cloud, without touching the environment).
 * @example
 * const clients = createClients();
 * const compute = new Ec2Compute({ client: clients.ec2 });
 */
export function createClients(options: CreateClientsOptions = {}): AwsClients {
  return {
    ...createHandoffClients(options),
    eventBridge: new EventBridgeClient(clientConfig(options, options.endpoints?.eventBridge)),
  };
}

/**
 * The handoff's clients only, as `createClients` builds them: a function's bundle then holds no
 * EventBridge client.
 */
export function createHandoffClients(options: CreateClientsOptions = {}): HandoffClients {
  const endpoints = options.endpoints ?? {};
  const dynamodb = new DynamoDBClient(clientConfig(options, endpoints.dynamodb));
  const ec2 = new EC2Client(clientConfig(options, endpoints.ec2));
  const elbv2 = new ElasticLoadBalancingV2Client(clientConfig(options, endpoints.elbv2));
  if (options.apiBudget) {
    ec2.middlewareStack.use(options.apiBudget.middleware('ec2'));
    elbv2.middlewareStack.use(options.apiBudget.middleware('elbv2'));
  }
  return {
    ec2,
    elbv2,
    dynamodb,
    documentClient: DynamoDBDocumentClient.from(dynamodb, {
      marshallOptions: { removeUndefinedValues: true },
    }),
  };
}

/** One client's configuration: the options', and the service's endpoint when one is named. */
function clientConfig(options: CreateClientsOptions, endpoint: string | undefined) {
  return {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    retryMode: 'standard',
    maxAttempts: maxAttempts(options.env ?? process.env),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(endpoint ? { endpoint } : {}),
  };
}

function maxAttempts(env: Record<string, string | undefined>): number {
  const raw = env['AWS_MAX_ATTEMPTS'];
  if (raw === undefined || raw === '') return DEFAULT_MAX_ATTEMPTS;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new ConfigError(
      `AWS_MAX_ATTEMPTS=${JSON.stringify(raw)} is not valid: use a whole number greater than 0.`,
    );
  }
  return value;
}
