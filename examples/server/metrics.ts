// Prometheus metrics for the server, in a registry of its own (so that several servers can live in one process).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ClassifierLike } from './app';

export interface ServerMetrics {
  registry: Registry;
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Stops listening to the classifier's batches. */
  stop(): void;
}

export function createMetrics(classifier: ClassifierLike): ServerMetrics {
  const registry = new Registry();
  const registers = [registry];
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route'],
    registers,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const batchSize = new Histogram({
    name: 'classifier_batch_size',
    help: 'Texts per forward pass',
    labelNames: ['adapter'],
    registers,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
  });
  const batchSeconds = new Histogram({
    name: 'classifier_batch_duration_seconds',
    help: 'Time a batch spent on a worker',
    registers,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  new Gauge({
    name: 'classifier_queue_depth',
    help: 'Texts waiting for a batch',
    registers,
    collect() {
      this.set(classifier.stats().queueDepth);
    },
  });
  new Gauge({
    name: 'classifier_in_flight_texts',
    help: 'Texts in batches running on workers',
    registers,
    collect() {
      this.set(classifier.stats().inFlight);
    },
  });
  new Gauge({
    name: 'classifier_workers_ready',
    help: 'Model workers ready to serve',
    registers,
    collect() {
      this.set(classifier.stats().readyWorkers);
    },
  });
  const unsubscribe = classifier.onBatch((b) => {
    batchSize.observe({ adapter: b.adapter ?? 'base' }, b.size);
    batchSeconds.observe(b.ms / 1000);
  });
  return {
    registry,
    observeRequest: (method, route, status, seconds) => {
      requests.inc({ method, route, status: String(status) });
      duration.observe({ method, route }, seconds);
    },
    stop: unsubscribe,
  };
}
