"""Reference for test/train/weight-decay.test.ts: a few full fine-tuning steps of DistilBERT with torch AdamW over
transformers' Trainer parameter groups (get_decay_parameter_names: no decay for biases and LayerNorm weights).

Reads JSON on stdin: {model, input_ids, attention_mask, labels, lr, weight_decay, steps, frozen (names)}. Writes JSON: the decaying
parameter names, every parameter after the steps, and how far an all-decay run ends from the grouped one."""
import json
import sys

import torch
import torch.nn.functional as F
from transformers import AutoModelForSequenceClassification, Trainer


def run(cfg, grouped):
    model = AutoModelForSequenceClassification.from_pretrained(cfg["model"])
    model.train()
    for n, p in model.named_parameters():
        p.requires_grad_(n not in cfg["frozen"])
    decay = set(Trainer.get_decay_parameter_names(None, model))
    params = list(model.named_parameters())
    if grouped:
        groups = [
            {"params": [p for n, p in params if n in decay], "weight_decay": cfg["weight_decay"]},
            {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": [p for _, p in params], "weight_decay": cfg["weight_decay"]}]
    opt = torch.optim.AdamW(groups, lr=cfg["lr"])
    ids = torch.tensor(cfg["input_ids"])
    mask = torch.tensor(cfg["attention_mask"])
    labels = torch.tensor(cfg["labels"])
    for _ in range(cfg["steps"]):
        loss = F.cross_entropy(model(input_ids=ids, attention_mask=mask).logits.float(), labels)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return decay, {n: p.detach() for n, p in params}


def main():
    cfg = json.load(sys.stdin)
    decay, grouped = run(cfg, True)
    _, everything = run(cfg, False)
    json.dump({
        "decay": sorted(decay),
        "params": {n: p.flatten().tolist() for n, p in grouped.items()},
        "all_decay_max_diff": max((grouped[n] - everything[n]).abs().max().item() for n in grouped),
    }, sys.stdout)


if __name__ == "__main__":
    main()
