import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { WARNING_LEAD_MS } from '../core/plan.ts';
import type { StepName, Workflow } from '../core/workflow.ts';
import { CliError } from './errors.ts';

/**
 * One workflow on a time axis: detect, drain, launch, running, handover, register, each placed
 * against the two-minute deadline, as lines of text (`handoff timeline`) or as a picture
 * (`handoff timeline --svg`, and the demo's `handoff-timelines/`).
 */

export type PhaseName = 'detect' | 'drain' | 'launch' | 'running' | 'handover' | 'register';

export interface Phase {
  name: PhaseName;
  /** Milliseconds from the timeline's origin; undefined while the phase has not been reached. */
  start?: number;
  end?: number;
  status: 'on-time' | 'late' | 'failed' | 'not-reached';
  /** A failed phase: when it last failed, from the origin. */
  failedAt?: number;
  detail?: string;
}

export interface Timeline {
  workflowId: string;
  instanceId: string;
  replacementId?: string;
  status: string;
  outcome?: string;
  reason?: string;
  /** ISO time every offset counts from: the first event's EventBridge time, else the workflow's start. */
  origin: string;
  originIs: 'event' | 'workflow start';
  /** When EC2 reclaims the old instance (the warning's time + 2 minutes), from the origin. */
  reclaimAt?: number;
  /** When the handover and registration are due, from the origin. */
  handoverBy?: number;
  /** The capacity the replacement was launched on, where the record says. */
  capacity?: string;
  phases: Phase[];
}

/** What a capacity-aware launch records beside the replacement (absent on older records). */
interface RecordedCapacity {
  capacityType?: string;
  pool?: string | { instanceType?: string; availabilityZone?: string };
}

const PHASE_STEPS: Record<PhaseName, StepName> = {
  detect: 'detected',
  drain: 'drain',
  launch: 'launch',
  running: 'replacement-running',
  handover: 'handover',
  register: 'register',
};

export function timelineOf(workflow: Workflow): Timeline {
  const originIs = workflow.signals.firstEventAt ? 'event' : 'workflow start';
  const origin = workflow.signals.firstEventAt ?? workflow.startedAt;
  const t0 = Date.parse(origin);
  const offset = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso) - t0);
  const reclaimAt =
    offset(workflow.deadlines?.reclaimAt) ??
    (workflow.signals.warning && originIs === 'event' ? WARNING_LEAD_MS : undefined);

  const phase = (name: PhaseName, start: number | undefined): Phase => {
    const steps = workflow.steps.filter((s) => s.name === PHASE_STEPS[name]);
    const done = steps.find((s) => s.status === 'done');
    const failed = steps.filter((s) => s.status === 'failed');
    if (done) {
      const end = offset(done.at)!;
      const note = failed.length > 0 ? ` (after ${failed.length} failed: ${failed.at(-1)!.detail})` : '';
      return {
        name,
        start: Math.min(start ?? end, end),
        end,
        status: done.late ? 'late' : 'on-time',
        detail: `${done.detail ?? ''}${note}`,
      };
    }
    const last = failed.at(-1) ?? steps.find((s) => s.status === 'skipped');
    return {
      name,
      start,
      status: failed.length > 0 ? 'failed' : 'not-reached',
      failedAt: offset(failed.at(-1)?.at),
      detail: last ? `${last.status}: ${last.detail ?? ''}` : undefined,
    };
  };

  const detect = phase('detect', 0);
  const drain = phase('drain', detect.end);
  const launch = phase('launch', detect.end);
  const running = phase('running', launch.end);
  const phases = [detect, drain, launch, running];
  let registerFrom = running.end;
  if (workflow.handover) {
    const handover = phase('handover', running.end);
    phases.push(handover);
    registerFrom = handover.end ?? running.end;
  }
  phases.push(phase('register', registerFrom));

  return {
    workflowId: workflow.workflowId,
    instanceId: workflow.instanceId,
    replacementId: workflow.replacement?.instanceId,
    status: workflow.status,
    outcome: workflow.outcome,
    reason: workflow.reason,
    origin,
    originIs,
    reclaimAt,
    handoverBy: offset(workflow.deadlines?.handoverBy),
    capacity: capacityOf(workflow),
    phases,
  };
}

function capacityOf(workflow: Workflow): string | undefined {
  const recorded = workflow.replacement as (RecordedCapacity & Workflow['replacement']) | undefined;
  if (!recorded?.capacityType && !recorded?.pool) return undefined;
  const pool =
    typeof recorded.pool === 'string'
      ? recorded.pool
      : [recorded.pool?.instanceType, recorded.pool?.availabilityZone].filter(Boolean).join(' in ');
  return [recorded.capacityType, pool].filter(Boolean).join(', ');
}

/** `12.3 s` under two minutes, `m:ss` above. */
export function formatOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  if (abs < 120_000) return `${sign}${(abs / 1000).toFixed(1)} s`;
  const total = Math.round(abs / 1000);
  return `${sign}${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

const headline = (t: Timeline) =>
  `${t.workflowId}  ${t.status}${t.outcome ? ` (${t.outcome})` : ''}  ${t.instanceId} → ${t.replacementId ?? 'no replacement yet'}`;

/** The timeline as lines of text. */
export function timelineLines(t: Timeline): string[] {
  const lines = [
    headline(t),
    `  capacity: ${t.capacity ?? 'not recorded'}`,
    `  times from the ${t.originIs} at ${t.origin}${t.reclaimAt !== undefined ? `; EC2 reclaims the instance at ${formatOffset(t.reclaimAt)}` : ''}${t.handoverBy !== undefined ? `; handover due at ${formatOffset(t.handoverBy)}` : ''}`,
  ];
  for (const p of t.phases) {
    const at = p.end === undefined ? 'not reached' : formatOffset(p.end);
    lines.push(`  ${p.name.padEnd(9)} ${at.padStart(11)}  ${p.status}${p.detail ? `  ${p.detail}` : ''}`);
  }
  if (t.status !== 'completed' && t.reason) lines.push(`  waiting: ${t.reason}`);
  return lines;
}

const COLORS: Record<Phase['status'], string> = {
  'on-time': '#2e7d32',
  late: '#c62828',
  failed: '#c62828',
  'not-reached': '#9e9e9e',
};

const xmlText = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A step's detail, short enough for the picture. */
const shorten = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** An axis label: whole seconds under two minutes, `m:ss` above (one format per axis). */
function tickLabel(ms: number, rangeMs: number): string {
  const seconds = Math.round(ms / 1000);
  if (rangeMs < 120_000) return `${seconds} s`;
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** A tick spacing giving 5 to 12 ticks. */
function tickStep(rangeMs: number): number {
  for (const step of [1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000]) {
    if (rangeMs / step <= 12) return step;
  }
  return 1_800_000;
}

/** The timeline as a standalone SVG document (no script, no external font or stylesheet). */
export function timelineSvg(t: Timeline): string {
  const width = 1000;
  const left = 110;
  const right = 270; // room for the last label
  const plotWidth = width - left - right;
  const waiting = t.status !== 'completed' && t.reason ? `Waiting: ${t.reason}` : undefined;
  const ends = t.phases.flatMap((p) => [p.start ?? 0, p.end ?? 0, p.failedAt ?? 0]);
  const base = Math.max(...ends, t.reclaimAt ?? 0, 10_000);
  const showHandoverBy = t.handoverBy !== undefined && t.handoverBy <= base * 2;
  // Each deadline's label on a line of its own above the rows.
  const top = (waiting ? 136 : 112) + (showHandoverBy ? 20 : 0);
  const rowHeight = 46;
  const rows = t.phases.length;
  const axisY = top + rows * rowHeight + 8;
  const height = axisY + 86;

  const rangeMs = Math.max(base, showHandoverBy ? t.handoverBy! : 0) * 1.05;
  const x = (ms: number) => left + (Math.max(0, ms) / rangeMs) * plotWidth;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="13">`,
    `<title>${xmlText(`Handoff timeline of ${t.workflowId}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="28" font-size="17" font-weight="bold">${xmlText(headline(t))}</text>`,
    `<text x="16" y="52" fill="#333333">${xmlText(`Capacity: ${t.capacity ?? 'not recorded'}`)}</text>`,
    `<text x="16" y="74" fill="#333333">${xmlText(`Times from the ${t.originIs} at ${t.origin}`)}</text>`,
  ];
  if (waiting) out.push(`<text x="16" y="96" fill="#c62828">${xmlText(shorten(waiting, 130))}</text>`);

  // Grid and axis.
  const step = tickStep(rangeMs);
  for (let ms = 0; ms <= rangeMs; ms += step) {
    out.push(
      `<line x1="${x(ms)}" y1="${top - 6}" x2="${x(ms)}" y2="${axisY}" stroke="#e0e0e0" stroke-width="1"/>`,
      `<text x="${x(ms)}" y="${axisY + 18}" text-anchor="middle" fill="#444444">${tickLabel(ms, rangeMs)}</text>`,
    );
  }
  out.push(
    `<line x1="${left}" y1="${axisY}" x2="${left + plotWidth}" y2="${axisY}" stroke="#444444" stroke-width="1"/>`,
    `<text x="${left + plotWidth / 2}" y="${axisY + 38}" text-anchor="middle" fill="#444444">${xmlText(`time since the ${t.originIs}`)}</text>`,
  );

  // Deadlines.
  const deadline = (ms: number, label: string, color: string, cls: string, labelY: number) => {
    out.push(
      `<line class="${cls}" x1="${x(ms)}" y1="${labelY + 4}" x2="${x(ms)}" y2="${axisY}" stroke="${color}" stroke-width="2" stroke-dasharray="6 4"/>`,
      `<text x="${x(ms) - 4}" y="${labelY}" text-anchor="end" fill="${color}" font-weight="bold">${xmlText(label)}</text>`,
    );
  };
  if (t.reclaimAt !== undefined)
    deadline(
      t.reclaimAt,
      `EC2 reclaims ${formatOffset(t.reclaimAt)}: drain and launch due`,
      '#c62828',
      'deadline',
      top - 14,
    );
  if (showHandoverBy)
    deadline(
      t.handoverBy!,
      `handover and register due ${formatOffset(t.handoverBy!)}`,
      '#ef6c00',
      'handover-deadline',
      top - 34,
    );
  else if (t.handoverBy !== undefined)
    out.push(
      `<text x="${width - 16}" y="${axisY + 38}" text-anchor="end" fill="#ef6c00">${xmlText(`handover and register due ${formatOffset(t.handoverBy)} (off the chart)`)}</text>`,
    );

  // One row per phase.
  t.phases.forEach((p, i) => {
    const y = top + i * rowHeight;
    const color = COLORS[p.status];
    out.push(`<g class="phase" data-phase="${p.name}" data-status="${p.status}">`);
    out.push(`<text x="16" y="${y + 22}" font-weight="bold">${p.name}</text>`);
    let labelX: number;
    if (p.end !== undefined) {
      const x1 = x(p.start ?? p.end);
      const x2 = Math.max(x(p.end), x1 + 3);
      out.push(
        `<rect x="${x1}" y="${y + 8}" width="${x2 - x1}" height="20" rx="3" fill="${color}"/>`,
        `<circle cx="${x2}" cy="${y + 18}" r="5" fill="${color}" stroke="#ffffff" stroke-width="1.5"/>`,
      );
      labelX = x2 + 9;
    } else {
      const x1 = x(p.start ?? 0);
      out.push(
        `<line x1="${x1}" y1="${y + 18}" x2="${left + plotWidth}" y2="${y + 18}" stroke="${color}" stroke-width="2" stroke-dasharray="3 4"/>`,
      );
      labelX = left + plotWidth + 9;
    }
    const when =
      p.end !== undefined
        ? formatOffset(p.end)
        : p.failedAt !== undefined
          ? `last tried ${formatOffset(p.failedAt)}`
          : 'not reached';
    const mark = p.status === 'late' ? ' LATE' : p.status === 'failed' ? ' FAILED' : '';
    out.push(
      `<text x="${labelX}" y="${y + 16}" fill="${color === COLORS['on-time'] ? '#1b5e20' : color}" font-weight="bold">${xmlText(`${when}${mark}`)}</text>`,
    );
    if (p.detail) {
      out.push(
        `<text x="${labelX}" y="${y + 32}" fill="#555555" font-size="11">${xmlText(shorten(p.detail, Math.max(24, Math.floor((width - labelX - 8) / 6.2))))}</text>`,
      );
    }
    out.push('</g>');
  });

  // Legend.
  const legendY = height - 18;
  const legend: [string, string][] = [
    [COLORS['on-time'], 'on time'],
    [COLORS.late, 'late or failed'],
    [COLORS['not-reached'], 'not reached'],
  ];
  legend.forEach(([color, label], i) => {
    const lx = 16 + i * 150;
    out.push(
      `<rect x="${lx}" y="${legendY - 11}" width="14" height="14" rx="2" fill="${color}"/>`,
      `<text x="${lx + 20}" y="${legendY}" fill="#333333">${label}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes the picture of a timeline, making its directory. */
export async function writeTimelineSvg(file: string, timeline: Timeline): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, timelineSvg(timeline));
  } catch (error) {
    throw new CliError(
      `Cannot write ${file}: ${(error as Error).message}. Pass a file in a writable directory.`,
    );
  }
}
