import { errorCode } from '../aws/errors.ts';
import { CliError } from './errors.ts';

/**
 * What to do about an error from AWS, in one line, or undefined for an error that did not come from
 * AWS or its credential chain. Errors are recognised by name (and a network error by its code),
 * never by message text. Imports no SDK: `main.ts` uses it for every command.
 */

/** The credentials were found, and refused for this call. */
const ACCESS_DENIED: ReadonlySet<string> = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'AuthorizationError',
  'UnauthorizedException',
]);

/** The credentials were found, and AWS does not accept them (expired, unknown, mistyped). */
const CREDENTIALS_REJECTED: ReadonlySet<string> = new Set([
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'AuthFailure',
  'InvalidAccessKeyId',
  'RequestExpired',
]);

/** No answer from the endpoint. */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'TimeoutError',
]);

export const NO_REGION = 'no Region: pass --region or set AWS_REGION (or a region in the profile).';
export const NO_CREDENTIALS =
  'no credentials: pass --profile or set AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.';

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();

export function explainAwsError(error: unknown): string | undefined {
  const name = errorCode(error);
  const message = oneLine(String((error as { message?: unknown } | null)?.message ?? ''));
  const networkCode = (error as { code?: unknown } | null)?.code;
  if (name === 'CredentialsProviderError') return `${NO_CREDENTIALS.replace(/\.$/, '')} (${message}).`;
  if (name === 'TokenProviderError')
    return `the profile's SSO session has expired or was never started: run aws sso login, or pass another --profile (${message}).`;
  if (name !== undefined && ACCESS_DENIED.has(name))
    return `access denied (${name}: ${message}): use credentials allowed to do this (--profile); the README's Operations section lists what each command needs.`;
  if (name !== undefined && CREDENTIALS_REJECTED.has(name))
    return `AWS refused the credentials (${name}: ${message}): refresh them (aws sso login, new keys) or pass another --profile.`;
  if (name !== undefined && UNREACHABLE.has(name))
    return `AWS did not answer (${message}): check the network and --region.`;
  if (typeof networkCode === 'string' && UNREACHABLE.has(networkCode))
    return `AWS did not answer (${networkCode}: ${message}): check the network, --region and any AWS_ENDPOINT_URL_* setting.`;
  if (name === 'ResourceNotFoundException')
    return `not found (${message}): check --stack and --region (or HANDOFF_TABLE_NAME and the bus name).`;
  if (typeof (error as { $metadata?: unknown } | null)?.$metadata === 'object')
    return `AWS answered ${name}: ${message}`;
  return undefined;
}

/**
 * A failure in one line: an AWS error as what to do about it; several failures (an
 * `AggregateError`, as the sweep throws for its parts) as each distinct cause once, so four parts
 * failing on one unreachable endpoint read as that one cause.
 */
export function explainFailure(error: unknown, parts = 'parts'): string {
  if (error instanceof AggregateError) {
    const causes = [...new Set(failureLeaves(error).map((leaf) => explainFailure(leaf)))];
    if (causes.length === 1) return causes[0]!;
    return `${error.errors.length} ${parts} failed: ${causes.map((cause, i) => `(${i + 1}) ${cause}`).join(' ')}`;
  }
  if (error instanceof CliError) return error.message;
  const aws = explainAwsError(error);
  if (aws) return aws;
  return error instanceof Error ? oneLine(`${error.name}: ${error.message}`) : oneLine(String(error));
}

const failureLeaves = (error: unknown): unknown[] =>
  error instanceof AggregateError ? error.errors.flatMap(failureLeaves) : [error];
