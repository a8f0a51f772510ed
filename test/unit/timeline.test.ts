import { describe, expect, it } from 'vitest';
import { formatOffset, timelineLines, timelineOf, timelineSvg } from '../../src/cli/timeline.ts';
import type { Step, StepName, Workflow } from '../../src/core/workflow.ts';

const EVENT = '2026-01-01T12:00:00Z';
const at = (seconds: number) => new Date(Date.parse(EVENT) + seconds * 1000).toISOString();

/** A workflow of a warning at EVENT, with the steps recorded at the given seconds after it. */
function workflowWith(steps: [StepName, number, Partial<Step>?][], extra: Partial<Workflow> = {}): Workflow {
  return {
    workflowId: 'wf-i-0123456789abcdef0',
    instanceId: 'i-0123456789abcdef0',
    version: 5,
    status: 'completed',
    outcome: 'replaced',
    reason: 'Replacement i-0fedcba9876543210 serves in place of i-0123456789abcdef0.',
    startedAt: at(1),
    updatedAt: at(60),
    eventIds: ['e-1'],
    signals: { rebalance: false, warning: true, instanceAction: 'terminate', firstEventAt: EVENT },
    deadlines: { reclaimAt: at(120), handoverBy: at(725) },
    drained: true,
    elbCalls: 4,
    replacement: { attempt: 1, clientToken: 'wf-i-0123456789abcdef0-1', instanceId: 'i-0fedcba9876543210' },
    steps: steps.map(([name, seconds, more]) => ({
      name,
      status: 'done',
      at: at(seconds),
      elapsedMs: (seconds - 1) * 1000,
      detail: `${name} detail`,
      ...more,
    })),
    ...extra,
  };
}

const HANDOFF: [StepName, number][] = [
  ['detected', 1],
  ['targets-found', 1.2],
  ['drain', 1.5],
  ['launch', 2],
  ['replacement-running', 40],
  ['register', 41],
  ['completed', 41],
];

/** The `<g>` of each phase, by name, with its status. */
function phasesIn(svg: string): Map<string, string> {
  return new Map(
    [...svg.matchAll(/<g class="phase" data-phase="(\w+)" data-status="([\w-]+)">/g)].map((m) => [
      m[1]!,
      m[2]!,
    ]),
  );
}

/** The x of a vertical line of the given class. */
const lineX = (svg: string, cls: string) =>
  Number(new RegExp(`<line class="${cls}" x1="([\\d.]+)"`).exec(svg)?.[1] ?? Number.NaN);

describe('timeline of a workflow', () => {
  it('places every phase from the event, against the two-minute deadline', () => {
    // Act
    const timeline = timelineOf(workflowWith(HANDOFF));

    // Assess
    expect(timeline.originIs).toBe('event');
    expect(timeline.reclaimAt).toBe(120_000);
    expect(timeline.phases.map((p) => [p.name, p.end, p.status])).toEqual([
      ['detect', 1_000, 'on-time'],
      ['drain', 1_500, 'on-time'],
      ['launch', 2_000, 'on-time'],
      ['running', 40_000, 'on-time'],
      ['register', 41_000, 'on-time'],
    ]);
    expect(timeline.phases.find((p) => p.name === 'running')?.start).toBe(2_000);
  });

  it('a stateful workflow has a handover phase; a late step and a step not reached say so', () => {
    const workflow = workflowWith(
      [
        ['detected', 1],
        ['drain', 130, { late: true, deadline: at(120) }],
        ['launch', 130, { late: true }],
      ],
      {
        status: 'in-progress',
        outcome: undefined,
        reason: 'Waiting for replacement i-0fedcba9876543210 to run.',
        handover: { options: {} as never, availabilityZone: 'us-east-1a', resources: [] },
      },
    );

    const timeline = timelineOf(workflow);

    expect(timeline.phases.map((p) => [p.name, p.status])).toEqual([
      ['detect', 'on-time'],
      ['drain', 'late'],
      ['launch', 'late'],
      ['running', 'not-reached'],
      ['handover', 'not-reached'],
      ['register', 'not-reached'],
    ]);
    expect(timelineLines(timeline).at(-1)).toBe(
      '  waiting: Waiting for replacement i-0fedcba9876543210 to run.',
    );
  });

  it('names the capacity the replacement was launched on, where the record has it', () => {
    const workflow = workflowWith(HANDOFF);
    Object.assign(workflow.replacement!, {
      capacityType: 'on-demand',
      pool: { instanceType: 'm5.large', availabilityZone: 'us-east-1b' },
    });

    expect(timelineOf(workflow).capacity).toBe('on-demand, m5.large in us-east-1b');
    expect(timelineOf(workflowWith(HANDOFF)).capacity).toBeUndefined();
  });

  it('formats offsets as seconds under two minutes, minutes and seconds above', () => {
    expect(formatOffset(1_500)).toBe('+1.5 s');
    expect(formatOffset(125_000)).toBe('+2:05');
  });
});

describe('timeline as a picture (SVG)', () => {
  it('is one SVG document with a row per phase, each coloured by its status, and the deadline line', () => {
    // Act
    const svg = timelineSvg(timelineOf(workflowWith(HANDOFF)));

    // Assess
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(phasesIn(svg)).toEqual(
      new Map([
        ['detect', 'on-time'],
        ['drain', 'on-time'],
        ['launch', 'on-time'],
        ['running', 'on-time'],
        ['register', 'on-time'],
      ]),
    );
    expect(svg).toContain('EC2 reclaims +2:00: drain and launch due');
    expect(svg).toContain('wf-i-0123456789abcdef0');
    expect(svg).toContain('Capacity: not recorded');
  });

  it('draws the deadline after every step that met it, and before a step that missed it', () => {
    const onTime = timelineSvg(timelineOf(workflowWith(HANDOFF)));
    const late = timelineSvg(
      timelineOf(
        workflowWith([
          ['detected', 1],
          ['drain', 150, { late: true }],
        ]),
      ),
    );

    const barEnd = (svg: string, phase: string) =>
      Number(new RegExp(`data-phase="${phase}"[^]*?<circle cx="([\\d.]+)"`).exec(svg)?.[1] ?? Number.NaN);
    expect(barEnd(onTime, 'register')).toBeLessThan(lineX(onTime, 'deadline'));
    expect(barEnd(late, 'drain')).toBeGreaterThan(lineX(late, 'deadline'));
    expect(phasesIn(late).get('drain')).toBe('late');
    expect(late).toContain('LATE');
  });

  it('escapes what the record says (details are text, never markup)', () => {
    const svg = timelineSvg(timelineOf(workflowWith([['detected', 1, { detail: '<script>&' }]])));

    expect(svg).not.toContain('<script>');
    expect(svg).toContain('&lt;script&gt;&amp;');
  });
});
