// metrics.jsonl on rank 0: every record as one line; a resumed run first drops the records after its checkpoint.
import type { MetricRecord } from '../metrics-log';
import { MetricsLogger } from '../metrics-log';
import type { TrainerState } from '../state';
import type { CallbackContext, TrainerCallback } from './callback';

export class MetricsLogCallback implements TrainerCallback {
  readonly logger: MetricsLogger;

  constructor(file: string) {
    this.logger = new MetricsLogger(file);
  }

  onTrainBegin(_ctx: CallbackContext, { resumed }: { resumed: TrainerState | null }): void {
    if (resumed?.metricsRecords !== undefined) this.logger.keepFirst(resumed.metricsRecords);
  }

  onLog(_ctx: CallbackContext, record: MetricRecord): void {
    this.logger.log(record);
  }

  /** How many records a resumed run does not write again: those made up to the checkpointed moment. */
  onSave(_ctx: CallbackContext, saved: TrainerState, { unsavedRecords }: { unsavedRecords: number }): void {
    saved.metricsRecords = this.logger.count - unsavedRecords;
  }
}
