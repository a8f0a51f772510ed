/**
 * The trust boundary: which events the handoff acts on. Anyone who may call `PutEvents` can put an
 * event on a bus, so an event is acted on only if it is no larger than EventBridge allows, comes
 * from this deployment's account (or an account the deployment names) and Region, and is dated
 * near now. A refused event changes nothing; an untimely one may only advance a workflow that
 * already exists, from what EC2 says.
 */

/** EventBridge's limit on one event (the whole envelope, UTF-8). */
export const MAX_EVENT_BYTES = 256 * 1024;

/** Deeper than any AWS event (EC2's are 3 levels deep): a nested bomb is refused before it is read. */
export const MAX_EVENT_DEPTH = 32;

/** How the deployment judges an event's origin and age (`HANDOFF_*` settings, see the README). */
export interface EventTrustSettings {
  /** The deployment's account when the invocation does not say it (`HANDOFF_ACCOUNT_ID`). */
  accountId?: string;
  /** The deployment's Region when the invocation does not say it (`AWS_REGION`). */
  region?: string;
  /** Other accounts whose events are acted on (`HANDOFF_TRUSTED_ACCOUNTS`); empty by default. */
  trustedAccounts: readonly string[];
  /** An event older than this is untimely (`HANDOFF_EVENT_MAX_AGE_SECONDS`). */
  maxAgeMs: number;
  /** An event dated further ahead than this is untimely (`HANDOFF_EVENT_MAX_FUTURE_SECONDS`). */
  maxFutureMs: number;
}

/** Where the handoff runs: the events of this account and Region are its own. */
export interface Deployment {
  account: string;
  region: string;
}

/** Neither the invocation nor the configuration says which account or Region the handoff runs in. */
export class UnknownDeploymentError extends Error {
  override name = 'UnknownDeploymentError';
}

const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:([a-z0-9-]+):(\d{12}):function:/;

/**
 * The deployment, from the invoked function's ARN (`arn:aws:lambda:<region>:<account>:function:…`),
 * else from the settings.
 * @throws UnknownDeploymentError when neither says it: the handoff never acts on events it cannot judge.
 */
export function deploymentOf(
  invokedFunctionArn: string | undefined,
  settings: EventTrustSettings,
): Deployment {
  const [, arnRegion, arnAccount] = FUNCTION_ARN.exec(invokedFunctionArn ?? '') ?? [];
  const account = arnAccount ?? settings.accountId;
  const region = arnRegion ?? settings.region;
  if (!account || !region) {
    throw new UnknownDeploymentError(
      `Cannot tell which ${account ? 'Region' : 'account'} this deployment is in: the invocation's function ARN does not say, so set ${account ? 'AWS_REGION' : 'HANDOFF_ACCOUNT_ID'}.`,
    );
  }
  return { account, region };
}

/**
 * Why an event is refused before it is read, or undefined: its size, its depth, its account and
 * its Region. Fields of the wrong type are left to the schema (a clear error).
 */
export function refusalOf(
  raw: unknown,
  deployment: Deployment,
  settings: EventTrustSettings,
): string | undefined {
  const depth = depthOf(raw);
  if (depth > MAX_EVENT_DEPTH) return `nested more than ${MAX_EVENT_DEPTH} levels deep`;
  const bytes = Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8');
  if (bytes > MAX_EVENT_BYTES)
    return `${bytes} bytes, over EventBridge's ${MAX_EVENT_BYTES}-byte event limit`;
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { account, region } = raw as { account?: unknown; region?: unknown };
  if (
    typeof account === 'string' &&
    account !== deployment.account &&
    !settings.trustedAccounts.includes(account)
  ) {
    return `account ${quoted(account)} is not this deployment's (${deployment.account}) nor in HANDOFF_TRUSTED_ACCOUNTS`;
  }
  if (typeof region === 'string' && region !== deployment.region) {
    return `Region ${quoted(region)} is not this deployment's (${deployment.region})`;
  }
  return undefined;
}

/** Why an event's time is not near now, or undefined. */
export function untimely(time: string, now: Date, settings: EventTrustSettings): string | undefined {
  const ageMs = now.getTime() - Date.parse(time);
  if (ageMs > settings.maxAgeMs) return `dated ${time}, more than ${settings.maxAgeMs / 1000} s ago`;
  if (-ageMs > settings.maxFutureMs)
    return `dated ${time}, more than ${settings.maxFutureMs / 1000} s ahead of now`;
  return undefined;
}

/** An untrusted string as logged: at most 64 characters, JSON-quoted (control characters escaped). */
export function quoted(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

/** Nesting depth of a JSON value, without recursion (a deep value cannot exhaust the stack). */
function depthOf(value: unknown): number {
  let deepest = 0;
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    deepest = Math.max(deepest, depth);
    if (depth > MAX_EVENT_DEPTH) return depth;
    for (const child of Object.values(node)) pending.push([child, depth + 1]);
  }
  return deepest;
}
