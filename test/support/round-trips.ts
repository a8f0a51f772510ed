import type { AwsClients } from '../../src/aws/clients.ts';

/** The part of an SDK client's middleware stack used here: a step around the whole call, retries included. */
interface InitializeStep {
  add(
    middleware: (
      next: (args: unknown) => Promise<unknown>,
      context: { commandName?: string },
    ) => (args: unknown) => Promise<unknown>,
    options: { step: 'initialize'; name: string },
  ): void;
}

/** One AWS request: its action and the sequential round trip it went out in (1 = first). */
export interface TrackedRequest {
  service: 'ec2' | 'elbv2' | 'dynamodb';
  action: string;
  roundTrip: number;
}

/**
 * Counts sequential round trips to AWS by holding every response until every request in flight has
 * been answered, then releasing them all at once: requests made side by side share a round trip,
 * and a request made after a response can only go out in a later one. A request's `roundTrip` is
 * the number of releases before it, plus one. That is never less than its causal depth (what it
 * waited for was released earlier), so "DeregisterTargets in round trip 2" proves at most two
 * sequential round trips before it, whatever the network's timing.
 */
export class RoundTrips {
  readonly requests: TrackedRequest[] = [];
  #released = 0;
  #inFlight = 0;
  #held: (() => void)[] = [];
  #releasing = false;

  /** Tracks every request the clients send from now on (hooked into each client's middleware). */
  track(clients: Pick<AwsClients, 'ec2' | 'elbv2' | 'dynamodb'>): void {
    const services = [
      ['ec2', clients.ec2],
      ['elbv2', clients.elbv2],
      ['dynamodb', clients.dynamodb],
    ] as const;
    for (const [service, client] of services) {
      (client.middlewareStack as unknown as InitializeStep).add(
        (next, context) => async (args) => {
          const action = String(context.commandName ?? 'unknown').replace(/Command$/, '');
          this.requests.push({ service, action, roundTrip: this.#released + 1 });
          this.#inFlight += 1;
          try {
            return await next(args);
          } finally {
            this.#inFlight -= 1;
            await new Promise<void>((resolve) => {
              this.#held.push(resolve);
              this.#releaseWhenAllAnswered();
            });
          }
        },
        { step: 'initialize', name: 'roundTripTracker' },
      );
    }
  }

  /** The round trips of the requests of `action` (in the order they were sent). */
  of(action: string): number[] {
    return this.requests.filter((r) => r.action === action).map((r) => r.roundTrip);
  }

  /** Forgets what was tracked so far; round trips count from 1 again. */
  reset(): void {
    this.requests.length = 0;
    this.#released = 0;
  }

  #releaseWhenAllAnswered(): void {
    if (this.#inFlight > 0 || this.#releasing) return;
    this.#releasing = true;
    // A request about to go out in this turn, waiting for no held response, shares the round trip.
    setImmediate(() => {
      this.#releasing = false;
      if (this.#inFlight > 0) return;
      const held = this.#held;
      this.#held = [];
      this.#released += 1;
      for (const release of held) release();
    });
  }
}
