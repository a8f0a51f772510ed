/**
 * Contracts between the parts of the local cloud: the HTTP server, the EC2 service, the ELBv2
 * service and the virtual clock. Each service keeps its own state and speaks the AWS Query
 * protocol; the server only routes requests to them. The events EC2 emits have the core's shape,
 * `EventEnvelope` (`src/core/events.ts`): the local cloud imports that type, and nothing else
 * from `src/`.
 */

/** A request of the AWS Query protocol (`Action=…&Version=…&Param.1=…`), form-decoded. */
export interface QueryRequest {
  action: string;
  version: string;
  /** Every form parameter except Action and Version, flat (`Filter.1.Name` → value). */
  params: Record<string, string>;
  requestId: string;
}

/** An error AWS would return: the SDK maps `code` to the thrown error's `name`. */
export class AwsError extends Error {
  override name = 'AwsError';
  constructor(
    readonly code: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

/** One AWS service behind the server. `handle` returns the XML body of a successful response. */
export interface QueryService {
  /** API version the SDK sends, e.g. `2016-11-15` for EC2, `2015-12-01` for ELBv2. */
  readonly apiVersion: string;
  /** Throws {@link AwsError} for AWS-shaped failures. */
  handle(request: QueryRequest): Promise<string> | string;
  /** Serialises an error the way this service's protocol does. */
  renderError(error: AwsError, requestId: string): string;
}

/** Virtual time. `manual` clocks move only on `advance`; scaled clocks follow real time × speed. */
export interface VirtualClock {
  now(): Date;
  /** Runs `fn` when virtual time reaches now + `delayMs`. Returns a cancel function. */
  schedule(delayMs: number, fn: () => void): () => void;
  /** Manual clocks: moves time forward, firing due timers in order (awaiting microtasks between). */
  advance(ms: number): Promise<void>;
  /** Virtual ms of the next pending timer, if any (manual clocks). */
  nextTimerAt(): number | undefined;
  stop(): void;
}

/** What the ELBv2 service needs to know of EC2's instances. */
export interface InstanceDirectory {
  instance(
    instanceId: string,
  ):
    | { instanceId: string; state: string; vpcId: string; availabilityZone: string; privateIps: string[] }
    | undefined;
  /** The VPC whose CIDR holds `ip`, if any. */
  vpcOfIp(ip: string): string | undefined;
  /** Subscribes to instance state transitions (e.g. to drain targets of terminated instances). */
  onStateChange(listener: (instanceId: string, state: string) => void): void;
}
