#!/usr/bin/python3
"""Loads a LoRA adapter folder written by torch-lora's saveAdapter (or by PEFT) into the independent Python reference
model, reading it by PEFT 0.13's rules, and prints the logits as JSON: a by-hand check that our adapters load in Python.

    /usr/bin/python3 tools/reference/check_adapter.py ADAPTER_DIR [--model MODEL_DIR] [--inputs JSON] [--compare JSON]

  ADAPTER_DIR  adapter_config.json + adapter_model.safetensors
  --model      the base model folder (default: /work/shared/fixtures/distilbert-tiny-random)
  --inputs     JSON with input_ids and attention_mask (default: distilbert-tiny-expected.json)
  --compare    JSON with the logits our library computed (a {"logits": ...} object or a bare nested list): prints the
               largest absolute difference to stderr and exits 1 when it exceeds --tol (default 1e-5)

Prints {"logits", "cls_hidden", "adapted": {module: {"r", "scaling"}}, "saved": [params taken from the file],
"targeted_without_weights": [...]} to stdout. A module that the config targets but the file has no weights for is
what PEFT would leave at its initialisation (lora_B = 0), so it has no effect and is only listed.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distilbert_reference as ref  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('adapter')
    ap.add_argument('--model', default=ref.TINY_MODEL)
    ap.add_argument('--inputs', default=ref.TINY_EXPECTED)
    ap.add_argument('--compare')
    ap.add_argument('--tol', type=float, default=1e-5)
    args = ap.parse_args()

    config = ref.load_config(args.model)
    adapter = ref.read_adapter(args.adapter, config, strict=False)
    model = ref.DistilBertReference(ref.load_state_dict(args.model), config, adapter)
    with open(args.inputs) as f:
        inputs = json.load(f)
    logits, cls = model.forward(torch.tensor(inputs['input_ids']), torch.tensor(inputs['attention_mask']))
    targeted = [n for n in ref.linear_names(config)
                if ref.peft_target_matches(adapter['config']['target_modules'], n)
                and not ref.peft_modules_to_save_matches(adapter['config'].get('modules_to_save'), n)]
    out = {
        'logits': ref.tolist(logits),
        'cls_hidden': ref.tolist(cls),
        'adapted': {n: {'r': A.shape[0], 'scaling': s} for n, (A, _, s) in adapter['lora'].items()},
        'saved': sorted(adapter['saved']),
        'targeted_without_weights': [n for n in targeted if n not in adapter['lora']],
    }
    json.dump(out, sys.stdout)
    print()
    if args.compare:
        with open(args.compare) as f:
            theirs = json.load(f)
        theirs = theirs['logits'] if isinstance(theirs, dict) else theirs
        d = ref.max_abs_diff(logits, theirs)
        print(f'max |logits(python) - logits(compared)| = {d:.3g}', file=sys.stderr)
        if d > args.tol:
            sys.exit(1)


if __name__ == '__main__':
    main()
