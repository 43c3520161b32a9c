#!/usr/bin/env python3
"""Loads adapter folders with real PEFT (PeftModel.from_pretrained, as a Python user would) and prints the logits
each gives, for test/lora-peft-live.test.ts: the check that every adapter torch-lora's saveAdapter writes loads in
PEFT and computes what torch-lora computes.

    python tools/peft_roundtrip.py JOB.json    ->  {"<adapter dir>": {"logits": [[...]], "trainable": N} | {"error": "..."}}

JOB.json: {"model": base model folder, "input_ids": [[...]], "attention_mask": [[...]], "adapters": [dirs]}
"""
import json
import sys
import traceback

import torch
from peft import PeftModel
from transformers import AutoModelForSequenceClassification


def main():
    with open(sys.argv[1]) as f:
        job = json.load(f)
    ids = torch.tensor(job['input_ids'])
    mask = torch.tensor(job['attention_mask'])
    out = {}
    for folder in job['adapters']:
        try:
            base = AutoModelForSequenceClassification.from_pretrained(job['model'])
            model = PeftModel.from_pretrained(base, folder).eval()
            with torch.no_grad():
                logits = model(input_ids=ids, attention_mask=mask).logits
            out[folder] = {'logits': logits.tolist()}
        except Exception as e:  # reported per folder: the test names the combination that failed
            out[folder] = {'error': f'{type(e).__name__}: {e}', 'trace': traceback.format_exc()[-2000:]}
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
