import type { VirtualClock } from './contracts.ts';

/** Where a manual clock starts: a fixed instant, so runs are reproducible. */
export const MANUAL_EPOCH = Date.parse('2026-01-01T12:00:00Z');

interface Timer {
  /** Virtual ms since the Unix epoch. */
  at: number;
  /** Tie-breaker: timers due at the same instant fire in the order they were scheduled. */
  seq: number;
  fn: () => void;
  /** Real timeout of a scaled clock. */
  handle?: NodeJS.Timeout;
}

/** Lets promise jobs and I/O callbacks queued by a timer run before the next one fires. */
const letQueuedWorkRun = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Virtual time for the local cloud.
 *
 * - `manual`: time stands still until {@link VirtualClock.advance}, which fires due timers in time
 *   order and lets the code reacting to one timer run before the next fires.
 * - a number: virtual ms per real ms (`60` makes a minute pass in a second). Timers are real,
 *   unref'd timeouts; `advance` jumps ahead and fires what became due.
 *
 * @example
 * const clock = createClock('manual');
 * clock.schedule(8_000, () => console.log('running'));
 * await clock.advance(10_000); // logs "running"
 */
export function createClock(mode: 'manual' | number, options: { start?: Date } = {}): VirtualClock {
  if (mode !== 'manual' && !(Number.isFinite(mode) && mode > 0)) {
    throw new Error(`clock must be 'manual' or a positive speed, got ${String(mode)}`);
  }
  const timers: Timer[] = [];
  let seq = 0;
  let stopped = false;
  /** Serialises concurrent `advance` calls. */
  let advancing: Promise<void> = Promise.resolve();

  const scaled = mode !== 'manual';
  const speed = scaled ? mode : 1;
  const realStart = Date.now();
  const virtualStart = options.start?.getTime() ?? (scaled ? realStart : MANUAL_EPOCH);
  /** Manual: the current virtual time. Scaled: how far `advance` has jumped ahead. */
  let offset = scaled ? 0 : virtualStart;

  const nowMs = () => (scaled ? virtualStart + (Date.now() - realStart) * speed + offset : offset);

  /** Moves virtual time forward to `at` (never backwards). */
  const moveTo = (at: number) => {
    offset += Math.max(0, at - nowMs());
  };

  const remove = (timer: Timer) => {
    const index = timers.indexOf(timer);
    if (index >= 0) timers.splice(index, 1);
    if (timer.handle) clearTimeout(timer.handle);
  };

  const arm = (timer: Timer) => {
    if (!scaled) return;
    if (timer.handle) clearTimeout(timer.handle);
    const delay = Math.max(0, (timer.at - nowMs()) / speed);
    timer.handle = setTimeout(() => {
      remove(timer);
      moveTo(timer.at);
      timer.fn();
    }, delay);
    timer.handle.unref();
  };

  const insert = (timer: Timer) => {
    let index = timers.length;
    while (index > 0) {
      const before = timers[index - 1]!;
      if (before.at < timer.at || (before.at === timer.at && before.seq < timer.seq)) break;
      index--;
    }
    timers.splice(index, 0, timer);
  };

  const runAdvance = async (ms: number) => {
    if (!(Number.isFinite(ms) && ms >= 0))
      throw new Error(`advance needs a non-negative duration, got ${ms}`);
    await letQueuedWorkRun();
    const target = nowMs() + ms;
    for (;;) {
      const next = timers[0];
      if (!next || next.at > target || stopped) break;
      timers.shift();
      if (next.handle) clearTimeout(next.handle);
      moveTo(next.at);
      next.fn();
      await letQueuedWorkRun();
    }
    moveTo(target);
    for (const timer of timers) arm(timer);
    await letQueuedWorkRun();
  };

  return {
    now: () => new Date(Math.floor(nowMs())),
    schedule(delayMs, fn) {
      if (stopped) return () => {};
      const timer: Timer = { at: nowMs() + Math.max(0, delayMs), seq: seq++, fn };
      insert(timer);
      arm(timer);
      return () => remove(timer);
    },
    advance(ms) {
      const run = advancing.then(() => runAdvance(ms));
      advancing = run.catch(() => {});
      return run;
    },
    nextTimerAt: () => timers[0]?.at,
    stop() {
      stopped = true;
      for (const timer of timers.splice(0)) {
        if (timer.handle) clearTimeout(timer.handle);
      }
    },
  };
}
