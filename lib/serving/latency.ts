// Request latencies over a sliding window (the most recent `capacity` requests), for stats().
export interface LatencySummary {
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

export class LatencyWindow {
  private readonly values: number[] = [];
  private next = 0;

  constructor(private readonly capacity = 1024) {}

  add(ms: number): void {
    if (this.values.length < this.capacity) this.values.push(ms);
    else this.values[this.next] = ms;
    this.next = (this.next + 1) % this.capacity;
  }

  summary(): LatencySummary {
    const sorted = [...this.values].sort((a, b) => a - b);
    if (sorted.length === 0) return { mean: 0, p50: 0, p99: 0, max: 0 };
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
    return { mean, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] };
  }
}
