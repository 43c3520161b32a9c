// Hostile adapter folders (issue 14 items 7, 9 and 13): a huge rank, a catastrophic regular expression and absurd
// alphas get a clear error naming the file and field, quickly and without allocating what the config asks for.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DistilBertForSequenceClassification,
  loadAdapter,
  SafeRegex,
  pyFullmatch,
  replaceLinearWithLora,
  memory,
} from '../../lib';
import { readSafetensors, writeSafetensors } from '../../lib/io';
import { TINY_MODEL } from '../helpers/paths';
import { pyPatternKeyMatches } from '../../lib/lora/safe-regex';

const PEFT = path.join(__dirname, '..', 'fixtures', 'peft');
const GOOD = path.join(PEFT, 'dropout');
const goodConfig = () => JSON.parse(fs.readFileSync(path.join(GOOD, 'adapter_config.json'), 'utf8'));
const load = () => DistilBertForSequenceClassification.fromPretrained(TINY_MODEL);

/** An adapter folder with the good weights and a config edited by `edit` (or raw config text). */
function folder(edit: ((c: Record<string, unknown>) => void) | string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hostile-adapter-'));
  fs.copyFileSync(path.join(GOOD, 'adapter_model.safetensors'), path.join(dir, 'adapter_model.safetensors'));
  let text: string;
  if (typeof edit === 'string') text = edit;
  else {
    const c = goodConfig();
    edit(c);
    text = JSON.stringify(c);
  }
  fs.writeFileSync(path.join(dir, 'adapter_config.json'), text);
  return dir;
}

function timed<T>(fn: () => T): { ms: number; error: Error | null } {
  const t0 = Date.now();
  let error: Error | null = null;
  try {
    fn();
  } catch (e) {
    error = e as Error;
  }
  return { ms: Date.now() - t0, error };
}

describe('issue 14 item 7: a huge LoRA rank in adapter_config.json', () => {
  it.each([
    [
      'r = 2e7',
      (c: Record<string, unknown>) => {
        c.r = 2e7;
      },
      /adapter_config\.json: 'r' must be a positive integer up to 65536, got 20000000/,
    ],
    [
      'r = 1000 (fits the config bound, not the 32-wide layer)',
      (c: Record<string, unknown>) => {
        c.r = 1000;
      },
      /adapter_config\.json: rank 1000 for '.*q_lin' exceeds the layer's size \(32 -> 32\)/,
    ],
    [
      'r = 8 beside rank-4 tensors',
      (c: Record<string, unknown>) => {
        c.r = 8;
      },
      /adapter_model\.safetensors: '.*lora_A\.weight' has shape \[4,32\] but rank 8 of .*adapter_config\.json/,
    ],
    [
      'rank_pattern of 3e9',
      (c: Record<string, unknown>) => {
        c.rank_pattern = { q_lin: 3e9 };
      },
      /'rank_pattern' entry 'q_lin' must be a positive integer/,
    ],
    [
      'r = 1.5',
      (c: Record<string, unknown>) => {
        c.r = 1.5;
      },
      /'r' must be a positive integer/,
    ],
  ])('%s is refused before anything is allocated', async (_what, edit, message) => {
    const model = await load();
    const before = memory().numTensors;
    const { ms, error } = timed(() => loadAdapter(model, folder(edit)));
    expect(error?.message).toMatch(message);
    expect(ms).toBeLessThan(2000);
    expect(memory().numTensors).toBe(before); // nothing was allocated for the adapter
    model.dispose();
  });

  it('replaceLinearWithLora bounds the rank by the layer too', async () => {
    const model = await load();
    expect(() => replaceLinearWithLora(model, { rank: 2e7, alpha: 1, targets: ['q_lin'] })).toThrow(
      /rank 20000000 exceeds the layer's size \(32 -> 32\)/,
    );
    model.dispose();
  });
});

describe('issue 14 item 13 (adapter part): absurd lora_alpha values are refused on load', () => {
  it.each([
    [
      '"lots"',
      (c: Record<string, unknown>) => {
        c.lora_alpha = 'lots';
      },
      /adapter_config\.json: 'lora_alpha' must be a finite number within ±1000000, got "lots"/,
    ],
    [
      '1e308',
      (c: Record<string, unknown>) => {
        c.lora_alpha = 1e308;
      },
      /adapter_config\.json: 'lora_alpha' must be a finite number within ±1000000, got 1e\+308/,
    ],
    [
      'null',
      (c: Record<string, unknown>) => {
        c.lora_alpha = null;
      },
      /'lora_alpha' must be a finite number/,
    ],
    [
      'alpha_pattern "x"',
      (c: Record<string, unknown>) => {
        c.alpha_pattern = { q_lin: 'x' };
      },
      /'alpha_pattern' entry 'q_lin' must be a finite number/,
    ],
    [
      'lora_dropout 1.5',
      (c: Record<string, unknown>) => {
        c.lora_dropout = 1.5;
      },
      /'lora_dropout' must be a number in \[0, 1\)/,
    ],
    [
      'target_modules 7',
      (c: Record<string, unknown>) => {
        c.target_modules = 7;
      },
      /'target_modules' must be a string/,
    ],
    [
      'bias "some"',
      (c: Record<string, unknown>) => {
        c.bias = 'some';
      },
      /'bias' must be 'none', 'all' or 'lora_only'/,
    ],
  ])('lora_alpha and friends: %s', async (_what, edit, message) => {
    const model = await load();
    expect(() => loadAdapter(model, folder(edit))).toThrow(message);
    model.dispose();
  });

  it.each(['null', '[1, 2]', '"LORA"', '{"peft_type": "PREFIX_TUNING"}'])('a config of %s', async (text) => {
    const model = await load();
    expect(() => loadAdapter(model, folder(text))).toThrow(/adapter_config\.json: (expected a JSON object|peft_type)/);
    model.dispose();
  });
});

describe('issue 14 item 9: regular expressions from adapter configs run in linear time', () => {
  const EVIL = '(?:.|.)*(?:.|.)*!';

  it('target_modules / exclude_modules / rank_pattern / alpha_pattern of (?:.|.)*(?:.|.)*! answer at once', async () => {
    const model = await load();
    for (const edit of [
      (c: Record<string, unknown>) => {
        c.target_modules = EVIL;
      },
      (c: Record<string, unknown>) => {
        c.exclude_modules = EVIL;
      },
      (c: Record<string, unknown>) => {
        c.rank_pattern = { [EVIL]: 2 };
      },
      (c: Record<string, unknown>) => {
        c.alpha_pattern = { [EVIL]: 2 };
      },
      (c: Record<string, unknown>) => {
        c.layers_to_transform = [0];
        c.layers_pattern = EVIL;
      },
    ]) {
      const dir = folder(edit);
      const m = await load();
      const { ms } = timed(() => loadAdapter(m, dir));
      expect(ms).toBeLessThan(1000);
      m.dispose();
    }
    // A module name of 10,000 characters: still linear.
    const t0 = Date.now();
    expect(pyFullmatch(EVIL, 'a'.repeat(10_000))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(2000);
    model.dispose();
  });

  it('keeps Python re.fullmatch and PEFT pattern-key semantics (352 cases computed by Python re)', () => {
    const cases = JSON.parse(fs.readFileSync(path.join(PEFT, 'regex-cases.json'), 'utf8'));
    const wrong = cases.filter(
      (c: { pattern: string; name: string; fullmatch: boolean; pattern_key: boolean }) =>
        pyFullmatch(c.pattern, c.name) !== c.fullmatch || pyPatternKeyMatches(c.pattern, c.name) !== c.pattern_key,
    );
    expect(wrong).toEqual([]);
  });

  it('refuses what it does not implement rather than matching it differently', () => {
    for (const p of ['(?=a)a', '(?i)q_lin', '(a)\\1', 'a*+', '\\bq', '(?<=x)y', 'a{2000}']) {
      expect(() => new SafeRegex(p)).toThrow(/regular expression/);
    }
    expect(() => new SafeRegex('(a{1000}){1000}')).toThrow(/too large/);
  });
});

describe('every tensor of an adapter file is accounted for', () => {
  it('a lora_B.bias in a file whose config says lora_bias false is an error naming it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stray-bias-'));
    const { tensors } = readSafetensors(path.join(PEFT, 'lora-bias', 'adapter_model.safetensors'));
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), tensors);
    const c = JSON.parse(fs.readFileSync(path.join(PEFT, 'lora-bias', 'adapter_config.json'), 'utf8'));
    c.lora_bias = false;
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify(c));
    const model = await load();
    expect(() => loadAdapter(model, dir)).toThrow(
      /has '.*q_lin\.lora_B\.bias' but .*adapter_config\.json says lora_bias is false/,
    );
    model.dispose();
  });
});
