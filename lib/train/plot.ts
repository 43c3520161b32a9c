/**
 * A dependency-free SVG chart of a training run: training loss per step, and accuracy per epoch for the
 * train and validation splits.
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../io/fs-atomic';
import { dirname } from 'node:path';

import type { MetricRecord } from './metrics-log';

export interface PlotOptions {
  title: string;
  width?: number;
  height?: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  name: string;
  color: string;
  points: Point[];
  /** line: a solid line with no markers; faint: a thin translucent line; markers: a line with dots. */
  style: 'line' | 'faint' | 'markers';
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  formatY: (value: number) => string;
  /** Bounds for the y ticks (accuracy lives in [0, 1]). */
  yTickLimits?: [number, number];
  /** Draw the series names above the panel (default true; a figure with one shared legend turns it off). */
  legend?: boolean;
}

export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

const BLUE = '#1f77b4';
const ORANGE = '#e8710a';
export const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const MARGIN = { left: 72, right: 28, top: 92, bottom: 58 };

/** Returns a standalone SVG document. */
export function plotMetricsSvg(
  records: readonly MetricRecord[],
  { title, width = 1000, height = 440 }: PlotOptions,
): string {
  const panelWidth = width / 2;
  const panels = [lossPanel(records), accuracyPanel(records)];
  const body = panels.flatMap((panel, i) =>
    renderPanel(panel, { left: i * panelWidth, top: 0, width: panelWidth, height }),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    text(width / 2, 30, title, 'font-size="18" font-weight="bold" text-anchor="middle"'),
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes the plot whole or not at all (a reader never sees half a file). */
export function writePlot(path: string, svg: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileAtomic(path, svg);
}

function lossPanel(records: readonly MetricRecord[]): Panel {
  const raw = pointsOf(
    records,
    'train',
    (r) => r.step,
    (r) => r.loss,
  );
  const validation = pointsOf(
    records,
    'validation',
    (r) => r.step,
    (r) => r.loss,
  );
  // Per-step losses are noisy: past a few dozen steps, show them faintly under a smoothed trend.
  const train: Series[] =
    raw.length > 20
      ? [
          { name: 'train (per step)', color: BLUE, points: raw, style: 'faint' },
          { name: 'train (smoothed)', color: BLUE, points: smooth(raw), style: 'line' },
        ]
      : [{ name: 'train', color: BLUE, points: raw, style: 'line' }];
  const series = [...train, { name: 'validation', color: ORANGE, points: validation, style: 'markers' as const }];
  return { title: 'Loss per step', xLabel: 'step', yLabel: 'loss', series: nonEmpty(series), formatY: formatNumber };
}

function accuracyPanel(records: readonly MetricRecord[]): Panel {
  const series: Series[] = [
    { name: 'train', color: BLUE, points: lastPerEpoch(records, 'train'), style: 'markers' },
    { name: 'validation', color: ORANGE, points: lastPerEpoch(records, 'validation'), style: 'markers' },
  ];
  return {
    title: 'Accuracy per epoch',
    xLabel: 'epoch',
    yLabel: 'accuracy',
    series: nonEmpty(series),
    formatY: (value) => `${formatNumber(value * 100)}%`,
    yTickLimits: [0, 1],
  };
}

function nonEmpty(series: Series[]): Series[] {
  return series.filter((s) => s.points.length > 0);
}

function pointsOf(
  records: readonly MetricRecord[],
  split: string,
  x: (record: MetricRecord) => number,
  y: (record: MetricRecord) => number | undefined,
): Point[] {
  return records
    .filter((record) => record.split === split)
    .map((record) => ({ x: x(record), y: y(record) ?? NaN }))
    .filter((point) => Number.isFinite(point.x) && Number.isFinite(point.y))
    .sort((a, b) => a.x - b.x);
}

/** An epoch may log accuracy several times (running averages); the last one logged is the epoch's. */
function lastPerEpoch(records: readonly MetricRecord[], split: string): Point[] {
  const byEpoch = new Map<number, number>();
  for (const point of pointsOf(
    records,
    split,
    (r) => r.epoch,
    (r) => r.accuracy,
  ))
    byEpoch.set(point.x, point.y);
  // pointsOf sorts stably by epoch, so within an epoch the log order survives and the last write wins.
  return [...byEpoch].map(([x, y]) => ({ x, y }));
}

/** Exponential moving average spanning about 2% of the run, so the trend reads the same at any run length. */
function smooth(points: Point[]): Point[] {
  const span = Math.max(5, points.length / 50);
  const alpha = 2 / (span + 1);
  let average = points[0].y;
  return points.map(({ x, y }) => {
    average += alpha * (y - average);
    return { x, y: average };
  });
}

export function renderPanel(panel: Panel, outer: Box): string[] {
  const plot: Box = {
    left: outer.left + MARGIN.left,
    top: outer.top + MARGIN.top,
    width: outer.width - MARGIN.left - MARGIN.right,
    height: outer.height - MARGIN.top - MARGIN.bottom,
  };
  const header = [
    text(
      plot.left + plot.width / 2,
      outer.top + 60,
      panel.title,
      'font-size="15" font-weight="bold" text-anchor="middle"',
    ),
    ...(panel.legend === false ? [] : legend(panel.series, plot.left, outer.top + 80)),
  ];
  const all = panel.series.flatMap((s) => s.points);
  if (all.length === 0)
    return [
      ...header,
      frame(plot),
      text(
        plot.left + plot.width / 2,
        plot.top + plot.height / 2,
        'no data',
        'font-size="13" fill="#888" text-anchor="middle"',
      ),
    ];
  // Both x axes count steps or epochs: whole-number ticks.
  const xs = niceScale(
    all.map((p) => p.x),
    true,
  );
  const ys = niceScale(
    all.map((p) => p.y),
    false,
    panel.yTickLimits,
  );
  const toX = (x: number) => plot.left + ((x - xs.min) / (xs.max - xs.min)) * plot.width;
  const toY = (y: number) => plot.top + plot.height - ((y - ys.min) / (ys.max - ys.min)) * plot.height;
  return [
    ...header,
    ...xs.ticks.map((t) => gridTick(toX(t), plot, 'x', formatNumber(t))),
    ...ys.ticks.map((t) => gridTick(toY(t), plot, 'y', panel.formatY(t))),
    frame(plot),
    ...panel.series.map((s) => renderSeries(s, toX, toY)),
    text(plot.left + plot.width / 2, plot.top + plot.height + 44, panel.xLabel, 'font-size="13" text-anchor="middle"'),
    text(
      outer.left + 18,
      plot.top + plot.height / 2,
      panel.yLabel,
      `font-size="13" text-anchor="middle" transform="rotate(-90 ${outer.left + 18} ${plot.top + plot.height / 2})"`,
    ),
  ];
}

function gridTick(at: number, plot: Box, axis: 'x' | 'y', label: string): string {
  const grid = 'stroke="#e4e4e4" stroke-width="1"';
  if (axis === 'x') {
    const bottom = plot.top + plot.height;
    return [
      `<line x1="${r(at)}" y1="${plot.top}" x2="${r(at)}" y2="${bottom}" ${grid}/>`,
      `<line x1="${r(at)}" y1="${bottom}" x2="${r(at)}" y2="${bottom + 5}" stroke="#333"/>`,
      text(at, bottom + 20, label, 'font-size="12" text-anchor="middle"'),
    ].join('\n');
  }
  return [
    `<line x1="${plot.left}" y1="${r(at)}" x2="${plot.left + plot.width}" y2="${r(at)}" ${grid}/>`,
    `<line x1="${plot.left - 5}" y1="${r(at)}" x2="${plot.left}" y2="${r(at)}" stroke="#333"/>`,
    text(plot.left - 9, at + 4, label, 'font-size="12" text-anchor="end"'),
  ].join('\n');
}

function frame(plot: Box): string {
  return `<rect x="${plot.left}" y="${plot.top}" width="${plot.width}" height="${plot.height}" fill="none" stroke="#333"/>`;
}

function renderSeries(series: Series, toX: (x: number) => number, toY: (y: number) => number): string {
  const coords = series.points.map((p) => `${r(toX(p.x))},${r(toY(p.y))}`).join(' ');
  const width = series.style === 'faint' ? 1 : 2;
  const opacity = series.style === 'faint' ? ' stroke-opacity="0.3"' : '';
  const parts = [
    `<g data-series="${escapeXml(series.name)}">`,
    `<polyline points="${coords}" fill="none" stroke="${series.color}" stroke-width="${width}"${opacity} stroke-linejoin="round"/>`,
  ];
  if (series.style === 'markers') {
    parts.push(
      ...series.points.map((p) => `<circle cx="${r(toX(p.x))}" cy="${r(toY(p.y))}" r="3.5" fill="${series.color}"/>`),
    );
  }
  parts.push('</g>');
  return parts.join('\n');
}

/** One row of swatches above the plot, where it can never cover data. */
export function legend(series: Series[], left: number, y: number): string[] {
  let x = left;
  return series.map((s) => {
    const opacity = s.style === 'faint' ? ' stroke-opacity="0.4"' : '';
    const item = [
      `<line x1="${x}" y1="${y - 4}" x2="${x + 22}" y2="${y - 4}" stroke="${s.color}" stroke-width="${s.style === 'faint' ? 1.5 : 2.5}"${opacity}/>`,
      s.style === 'markers' ? `<circle cx="${x + 11}" cy="${y - 4}" r="3.5" fill="${s.color}"/>` : '',
      text(x + 28, y, s.name, 'font-size="12"'),
    ].join('');
    x += 28 + s.name.length * 7 + 18;
    return item;
  });
}

interface Scale {
  min: number;
  max: number;
  ticks: number[];
}

/**
 * The data range plus a 5% margin, so no point sits on the frame, with ticks on a 1-2-5 step inside it.
 * `tickLimits` keeps ticks out of impossible values (an accuracy above 100%) without clipping the margin.
 */
function niceScale(values: number[], integer: boolean, tickLimits?: [number, number]): Scale {
  // A loop, not Math.min(...values): spreading a long run's per-step losses overflows the call stack.
  let low = Infinity;
  let high = -Infinity;
  for (const value of values) {
    low = Math.min(low, value);
    high = Math.max(high, value);
  }
  const margin = low === high ? (integer ? 1 : Math.abs(low) * 0.1 || 0.5) : (high - low) * 0.05;
  const min = low - margin;
  const max = high + margin;
  const step = integer ? Math.max(1, niceStep((max - min) / 5)) : niceStep((max - min) / 5);
  const firstTick = Math.ceil(Math.max(min, tickLimits?.[0] ?? -Infinity) / step) * step;
  const lastTick = Math.min(max, tickLimits?.[1] ?? Infinity);
  const ticks: number[] = [];
  for (let t = firstTick; t <= lastTick + step * 1e-9; t += step) ticks.push(roundTo(t, step));
  return { min, max, ticks };
}

function niceStep(rough: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const fraction = rough / magnitude;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * magnitude;
}

/** Removes float noise such as 0.30000000000000004 from ticks. */
function roundTo(value: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(value.toFixed(decimals));
}

export function formatNumber(value: number): string {
  if (Math.abs(value) >= 10_000) return `${Number((value / 1000).toPrecision(4))}k`;
  return String(Number(value.toPrecision(4)));
}

export function text(x: number, y: number, content: string, attributes: string): string {
  return `<text x="${r(x)}" y="${r(y)}" ${FONT} ${attributes}>${escapeXml(content)}</text>`;
}

function r(value: number): string {
  return String(Math.round(value * 10) / 10);
}

function escapeXml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
