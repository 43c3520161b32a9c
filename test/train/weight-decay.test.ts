// Weight decay as transformers' Trainer and nanoGPT apply it: biases and LayerNorm weights do not decay. Checked
// live against torch AdamW over transformers' own grouping (Trainer.get_decay_parameter_names): a full fine-tuning
// run of our Trainer ends with the parameters PyTorch ends with (1e-5), where decaying everything would not.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  optim,
  BertTokenizer,
  DistilBertForSequenceClassification,
  Trainer,
  decayParameterNames,
  prepareModel,
  saveTrainingCheckpoint,
  weightDecayGroups,
  nn,
} from '../../lib';
import { TINY_MODEL } from '../helpers/paths';
import { describeWithPython } from '../helpers/python';

const REFERENCE = path.resolve(__dirname, '..', '..', 'tools', 'adamw_decay_groups.py');

class Net extends nn.Module {
  fc = this.registerModule('fc', new nn.Linear(4, 3));
  ln = this.registerModule('ln', new nn.LayerNorm(3));
  head = this.registerModule('head', new nn.Linear(3, 2, { bias: false }));
}

describe('weight decay groups', () => {
  it('leave out biases and LayerNorm weights, and frozen parameters altogether', () => {
    const net = new Net();
    expect([...decayParameterNames(net)]).toEqual(['fc.weight', 'head.weight']);
    net.fc.weight.requiresGrad_(false);
    const [decay, rest] = weightDecayGroups(net, 0.1);
    expect([decay.weightDecay, rest.weightDecay]).toEqual([0.1, 0]);
    expect(decay.params).toEqual([net.head.weight]);
    expect(rest.params).toEqual([net.fc.bias, net.ln.weight, net.ln.bias]);
  });

  it('refuse to resume a checkpoint of the single all-decaying group, naming its file', async () => {
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    prepareModel(model, 'lora', { rank: 2, trainHead: true });
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'one-group-'));
    const old = new optim.AdamW(model.parameters().filter((p) => p.requiresGrad));
    saveTrainingCheckpoint(path.join(out, 'checkpoint'), model, old, {
      epoch: 1,
      globalStep: 2,
      bestMetric: null,
      bestEpoch: null,
    });
    old.dispose();
    const trainer = new Trainer({
      model,
      tokenizer: BertTokenizer.fromPretrained(TINY_MODEL),
      train: [{ text: 'fine', label: 1 }],
      outputDir: out,
      resume: true,
      progress: false,
      log: () => undefined,
    });
    await expect(trainer.train()).rejects.toThrow(
      /checkpoint\/trainer_state\.json: the optimizer state has 1 parameter group\(s\), this optimizer 2 .*start again without resume/,
    );
    trainer.dispose();
    model.dispose();
  });
});

describeWithPython('the Trainer decays weights as transformers does', ['torch', 'transformers'], (python) => {
  it("full fine-tuning ends with the parameters of torch AdamW over transformers' groups (1e-5)", async () => {
    const tokenizer = BertTokenizer.fromPretrained(TINY_MODEL);
    // One batch holding every example, so each epoch is one optimizer step on the same padded batch as PyTorch's.
    const train = ['a wonderful film', 'dull and far too long', 'the cast is great but the plot is thin', 'bad'].map(
      (text, i) => ({ text, label: i % 2 }),
    );
    const model = await DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);
    prepareModel(model, 'full');
    // The key projection's bias has a zero gradient in exact arithmetic (softmax ignores a shift shared by all keys),
    // so Adam turns each side's rounding noise into steps of about lr (6e-3 apart here): frozen on both sides.
    const frozen = [...model.namedParameters()].filter(([n]) => n.endsWith('attention.k_lin.bias'));
    for (const [, p] of frozen) p.requiresGrad_(false);
    const cfg = { lr: 1e-2, weight_decay: 0.5, steps: 3 };
    const trainer = new Trainer({
      model,
      tokenizer,
      train,
      epochs: cfg.steps,
      batchSize: train.length,
      lr: cfg.lr,
      weightDecay: cfg.weight_decay,
      schedule: 'constant',
      maxLength: 32,
      progress: false,
      log: () => undefined,
    });
    const ids = train.map((e) => tokenizer.encode(e.text, { maxLength: 32, truncation: true }));
    const len = Math.max(...ids.map((r) => r.length));
    const input = {
      model: TINY_MODEL,
      ...cfg,
      frozen: frozen.map(([n]) => n),
      labels: train.map((e) => e.label),
      input_ids: ids.map((r) => [...r, ...new Array(len - r.length).fill(tokenizer.padTokenId)]),
      attention_mask: ids.map((r) => [...r.map(() => 1), ...new Array(len - r.length).fill(0)]),
    };
    const ref = JSON.parse(
      execFileSync(python, [REFERENCE], { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 30 }),
    );
    expect([...decayParameterNames(model)].sort()).toEqual(ref.decay);
    expect(trainer.optimizer.paramGroups.map((g) => g.options.weightDecay)).toEqual([0.5, 0]);
    // Decaying everything moves the LayerNorm weights and biases this far away: the comparison below can tell.
    expect(ref.all_decay_max_diff).toBeGreaterThan(1e-3);
    try {
      await trainer.train();
    } finally {
      trainer.dispose();
    }
    let worst = 0;
    for (const [name, p] of model.namedParameters()) {
      const want: number[] = ref.params[name];
      expect(want).toBeDefined();
      const got = p.dataSync();
      for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    model.dispose();
  });
});
