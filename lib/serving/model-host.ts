// What a worker holds: the tokenizer, one base model and its named LoRA adapters; texts in, probabilities out.
import { DistilBertForSequenceClassification, labelNames } from '../models/distilbert';
import type { BertTokenizer } from '../tokenizer';
import { AutoTokenizer } from '../tokenizer';
import { setAdapter, disableAdapter, deleteAdapter, loadAdapter } from '../lora';
import { encodeBatchToTensors } from '../tokenizer/to-tensors';
import { tidy } from '../scope';
import { noGrad } from '../autograd';
import { backend } from '../cuda';
import { ServingError } from './errors';
import { checkAdapterFolder } from './adapter-folder';
import type { WorkerInit } from './protocol';

export class ModelHost {
  private readonly names = new Set<string>();

  private constructor(
    private readonly model: DistilBertForSequenceClassification,
    private readonly tokenizer: BertTokenizer,
    private readonly init: WorkerInit,
  ) {}

  static async load(init: WorkerInit): Promise<ModelHost> {
    if (init.threads) backend.setNumThreads(init.threads);
    const tokenizer = AutoTokenizer.fromPretrained(init.tokenizer);
    const model = await DistilBertForSequenceClassification.fromPretrained(init.model, { device: init.device });
    model.eval();
    const host = new ModelHost(model, tokenizer, init);
    for (const [name, dir] of init.adapters) host.addAdapter(name, dir);
    return host;
  }

  /** Label names by class index, from config.json's id2label. */
  get labels(): string[] {
    return labelNames(this.model.config);
  }

  adapters(): string[] {
    return [...this.names];
  }

  /**
   * Loads (or reloads) the adapter in `dir` under `name`, then runs one short text through it: an adapter whose
   * values make non-finite scores (lora_alpha 1e308, NaN weights) is refused here rather than failing every request.
   */
  addAdapter(name: string, dir: string): void {
    if (this.names.has(name)) this.removeAdapter(name);
    try {
      // Checked again here, just before the read: a FIFO swapped in since the main thread's check would block this thread.
      checkAdapterFolder(name, dir);
      // Not activated: requests name their adapter. Its head (modules_to_save) gets copies of its own (lora/modules-to-save.ts).
      try {
        loadAdapter(this.model, dir, { adapterName: name, activate: false });
      } catch (e) {
        deleteAdapter(this.model, name);
        throw e;
      }
    } catch (e) {
      throw new ServingError(
        'ADAPTER_LOAD_FAILED',
        `cannot load adapter '${name}' from ${dir}: ${(e as Error).message}`,
      );
    }
    this.names.add(name);
    let finite = false;
    try {
      finite = this.classify(['a'], name).every(Number.isFinite);
    } catch {
      finite = false;
    }
    if (!finite) {
      this.removeAdapter(name);
      throw new ServingError(
        'ADAPTER_LOAD_FAILED',
        `cannot load adapter '${name}' from ${dir}: it gives non-finite scores (check lora_alpha, r and the weights)`,
      );
    }
  }

  removeAdapter(name: string): void {
    if (!this.names.has(name)) throw new ServingError('UNKNOWN_ADAPTER', `no adapter named '${name}'`);
    deleteAdapter(this.model, name);
    this.names.delete(name);
  }

  /** Softmax probabilities, row-major [texts, labels], with `adapter` (null: the base model). */
  classify(texts: string[], adapter: string | null): Float32Array {
    this.select(adapter);
    return noGrad(() =>
      tidy(() => {
        const enc = encodeBatchToTensors(this.tokenizer, texts, {
          maxLength: this.init.maxLength,
          truncation: true,
          padding: 'longest',
          device: this.init.device,
        });
        return this.model.call(enc.inputIds, enc.attentionMask).logits.float().softmax(-1).dataSync() as Float32Array;
      }),
    );
  }

  private select(adapter: string | null): void {
    if (adapter !== null && !this.names.has(adapter))
      throw new ServingError('UNKNOWN_ADAPTER', `no adapter named '${adapter}'`);
    if (adapter === null) disableAdapter(this.model);
    else setAdapter(this.model, adapter); // the adapter's head too, or the base model's when it saved none
  }
}
