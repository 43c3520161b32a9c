/**
 * Several training runs on one dependency-free SVG figure: validation accuracy, validation loss and training loss per
 * epoch, one colour per run, one legend for the three panels. The demo draws its methods with it; any list of
 * `Trainer` results can be drawn the same way.
 */
import type { Panel, Point, Series } from './plot';
import { formatNumber, legend, renderPanel, text } from './plot';

/** What the figure needs of a run: a name and its epochs (a `TrainResult`'s `epochs` fits). */
export interface RunToPlot {
  name: string;
  epochs: readonly { epoch: number; trainLoss: number; validation?: { accuracy: number; loss: number } }[];
}

export interface ComparePlotOptions {
  title: string;
  /** A second line under the title (the start point, the data sizes). */
  subtitle?: string;
  width?: number;
  height?: number;
}

// Matplotlib's tab10, in order: the colours readers of loss curves already know.
const PALETTE = [
  '#1f77b4',
  '#e8710a',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

/** Returns a standalone SVG document with three panels side by side. */
export function plotRunsSvg(
  runs: readonly RunToPlot[],
  { title, subtitle, width = 1500, height = 470 }: ComparePlotOptions,
): string {
  const series = (y: (e: RunToPlot['epochs'][number]) => number | undefined): Series[] =>
    runs.map((run, i) => ({
      name: run.name,
      color: PALETTE[i % PALETTE.length],
      style: 'markers' as const,
      points: run.epochs.map((e): Point => ({ x: e.epoch, y: y(e) ?? NaN })).filter((p) => Number.isFinite(p.y)),
    }));
  const panels: Panel[] = [
    {
      title: 'Validation accuracy per epoch',
      xLabel: 'epoch',
      yLabel: 'accuracy',
      series: series((e) => e.validation?.accuracy),
      formatY: (v) => `${formatNumber(v * 100)}%`,
      yTickLimits: [0, 1],
      legend: false,
    },
    {
      title: 'Validation loss per epoch',
      xLabel: 'epoch',
      yLabel: 'loss',
      series: series((e) => e.validation?.loss),
      formatY: formatNumber,
      legend: false,
    },
    {
      title: 'Training loss per epoch (mean)',
      xLabel: 'epoch',
      yLabel: 'loss',
      series: series((e) => e.trainLoss),
      formatY: formatNumber,
      legend: false,
    },
  ];
  const panelWidth = width / panels.length;
  // The panels' own headers sit 60 px below their top; 40 px more leaves room for the subtitle and the legend.
  const top = 40;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + top}" viewBox="0 0 ${width} ${height + top}">`,
    `<rect width="${width}" height="${height + top}" fill="white"/>`,
    text(width / 2, 28, title, 'font-size="18" font-weight="bold" text-anchor="middle"'),
    ...(subtitle ? [text(width / 2, 50, subtitle, 'font-size="13" fill="#444" text-anchor="middle"')] : []),
    ...legend(panels[0].series, 72, 78),
    ...panels.flatMap((panel, i) => renderPanel(panel, { left: i * panelWidth, top, width: panelWidth, height })),
    '</svg>',
    '',
  ].join('\n');
}
