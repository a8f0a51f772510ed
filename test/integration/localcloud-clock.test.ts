import { describe, expect, it } from 'vitest';
import { createClock, MANUAL_EPOCH } from '../../localcloud/clock.ts';

describe('manual clock', () => {
  it('stands still until advanced, from a fixed epoch', async () => {
    const clock = createClock('manual');
    expect(clock.now().toISOString()).toBe('2026-01-01T12:00:00.000Z');
    await clock.advance(1_500);
    expect(clock.now().getTime()).toBe(MANUAL_EPOCH + 1_500);
  });

  it('fires due timers in time order, each seeing its own time', async () => {
    // Prepare
    const clock = createClock('manual');
    const fired: [string, number][] = [];
    clock.schedule(300, () => fired.push(['c', clock.now().getTime() - MANUAL_EPOCH]));
    clock.schedule(100, () => fired.push(['a', clock.now().getTime() - MANUAL_EPOCH]));
    clock.schedule(100, () => fired.push(['b', clock.now().getTime() - MANUAL_EPOCH]));
    clock.schedule(1_000, () => fired.push(['late', 0]));

    // Act
    await clock.advance(500);

    // Assess
    expect(fired).toEqual([
      ['a', 100],
      ['b', 100],
      ['c', 300],
    ]);
    expect(clock.nextTimerAt()).toBe(MANUAL_EPOCH + 1_000);
    expect(clock.now().getTime()).toBe(MANUAL_EPOCH + 500);
  });

  it('lets promise jobs started by a timer run before the next timer fires', async () => {
    // Prepare
    const clock = createClock('manual');
    const log: string[] = [];
    clock.schedule(10, () => {
      log.push('first');
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => log.push('reaction to first'));
    });
    clock.schedule(20, () => log.push('second'));

    // Act
    await clock.advance(20);

    // Assess
    expect(log).toEqual(['first', 'reaction to first', 'second']);
  });

  it('fires timers scheduled by timers when they fall inside the advanced window', async () => {
    const clock = createClock('manual');
    const at: number[] = [];
    clock.schedule(100, () => {
      at.push(clock.now().getTime() - MANUAL_EPOCH);
      clock.schedule(50, () => at.push(clock.now().getTime() - MANUAL_EPOCH));
      clock.schedule(500, () => at.push(-1));
    });
    await clock.advance(200);
    expect(at).toEqual([100, 150]);
  });

  it('cancels a timer and stops all timers', async () => {
    const clock = createClock('manual');
    const fired: string[] = [];
    const cancel = clock.schedule(10, () => fired.push('cancelled'));
    clock.schedule(20, () => fired.push('kept'));
    cancel();
    await clock.advance(30);
    clock.schedule(10, () => fired.push('after stop'));
    clock.stop();
    await clock.advance(30);
    expect(fired).toEqual(['kept']);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  it('runs concurrent advances one after the other', async () => {
    const clock = createClock('manual');
    const fired: number[] = [];
    clock.schedule(150, () => fired.push(clock.now().getTime() - MANUAL_EPOCH));
    await Promise.all([clock.advance(100), clock.advance(100)]);
    expect(fired).toEqual([150]);
    expect(clock.now().getTime()).toBe(MANUAL_EPOCH + 200);
  });
});

describe('scaled clock', () => {
  it('follows real time times the speed and fires timers early in real time', async () => {
    // Prepare
    const clock = createClock(10_000);
    const start = clock.now().getTime();

    // Act: 20 virtual seconds are 2 real milliseconds.
    const firedAt = await new Promise<number>((resolve) =>
      clock.schedule(20_000, () => resolve(clock.now().getTime())),
    );

    // Assess
    expect(firedAt - start).toBeGreaterThanOrEqual(20_000);
    clock.stop();
  });

  it('jumps ahead with advance, firing what became due', async () => {
    const clock = createClock(1);
    const start = clock.now().getTime();
    const fired: string[] = [];
    clock.schedule(3_600_000, () => fired.push('an hour later'));
    await clock.advance(3_600_000);
    expect(fired).toEqual(['an hour later']);
    expect(clock.now().getTime() - start).toBeGreaterThanOrEqual(3_600_000);
    clock.stop();
  });
});
