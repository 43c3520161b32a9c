/**
 * A training progress bar. On a terminal it redraws one line in place; elsewhere (CI logs, files) it prints a
 * plain line every `everyPercent` percent, because carriage returns turn a log into one unreadable line.
 */

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Prefix for every line, e.g. "epoch 2/3". */
  label?: string;
  /** Characters in the bar itself (terminal mode). */
  barWidth?: number;
  /** Print a line each time progress crosses a multiple of this (non-terminal mode). */
  everyPercent?: number;
  /** Minimum milliseconds between terminal redraws. */
  redrawMs?: number;
  /** Milliseconds clock; injectable for tests. */
  now?: () => number;
}

export interface ProgressUpdate {
  step: number;
  total: number;
  loss?: number;
  acc?: number;
  tokensPerSec?: number;
}

export class ProgressBar {
  private readonly stream: ProgressStream;
  private readonly tty: boolean;
  private readonly now: () => number;
  private startedAt: number | null = null;
  private startStep = 0;
  private lastDrawAt = -Infinity;
  private lastBucket = -1;
  private drawnOpen = false;

  constructor(private readonly options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.now = options.now ?? Date.now;
  }

  update(update: ProgressUpdate): void {
    const now = this.now();
    if (this.startedAt === null) {
      this.startedAt = now;
      this.startStep = update.step;
    }
    if (this.tty) this.redraw(update, now);
    else this.printIfDue(update, now);
  }

  /** Ends the terminal line so later output starts on a fresh one. */
  done(): void {
    if (this.tty && this.drawnOpen) this.stream.write('\n');
    this.drawnOpen = false;
  }

  private redraw(update: ProgressUpdate, now: number): void {
    const finished = update.step >= update.total;
    if (!finished && now - this.lastDrawAt < (this.options.redrawMs ?? 100)) return;
    this.lastDrawAt = now;
    const line = `${this.bar(update)} ${this.describe(update, now)}`;
    const fitted = this.stream.columns ? line.slice(0, this.stream.columns - 1) : line;
    // \x1b[K clears what a longer previous line left to the right.
    this.stream.write(`\r${fitted}\x1b[K`);
    this.drawnOpen = true;
  }

  private printIfDue(update: ProgressUpdate, now: number): void {
    const every = this.options.everyPercent ?? 10;
    const bucket = Math.floor((fraction(update) * 100) / every);
    if (bucket <= this.lastBucket) return;
    this.lastBucket = bucket;
    this.stream.write(`${this.describe(update, now)}\n`);
  }

  private bar(update: ProgressUpdate): string {
    const width = this.options.barWidth ?? 30;
    const filled = Math.round(fraction(update) * width);
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  }

  private describe(update: ProgressUpdate, now: number): string {
    const { step, total, loss, acc, tokensPerSec } = update;
    const percent = Math.floor(fraction(update) * 100);
    const parts = [
      `${this.options.label ? `${this.options.label} ` : ''}${step}/${total} ${String(percent).padStart(3)}%`,
    ];
    if (loss !== undefined) parts.push(`loss ${loss.toFixed(4)}`);
    if (acc !== undefined) parts.push(`acc ${(acc * 100).toFixed(1)}%`);
    if (tokensPerSec !== undefined) parts.push(`${Math.round(tokensPerSec)} tok/s`);
    parts.push(this.timing(update, now));
    return parts.join(' | ');
  }

  private timing({ step, total }: ProgressUpdate, now: number): string {
    const elapsed = (now - this.startedAt!) / 1000;
    if (step >= total) return `${formatDuration(elapsed)} elapsed`;
    // The rate is measured from the first update, which may come after some steps (a resumed run).
    const done = step - this.startStep;
    if (done <= 0 || elapsed <= 0) return 'ETA --';
    return `ETA ${formatDuration((elapsed / done) * (total - step))}`;
  }
}

function fraction({ step, total }: ProgressUpdate): number {
  return total > 0 ? Math.min(1, Math.max(0, step / total)) : 1;
}

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}
