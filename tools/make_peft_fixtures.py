#!/usr/bin/env python3
"""Writes test/fixtures/peft/: LoRA adapters saved by real PEFT on the tiny random DistilBERT, with the logits PEFT
computes when it loads them back (PeftModel.from_pretrained), so that the jest suite checks loadAdapter against PEFT
itself without Python.

Needs torch, transformers, peft and safetensors (any Python that has them, e.g. the project's .venv):
    python tools/make_peft_fixtures.py [--model ../shared/fixtures/distilbert-tiny-random]

Outputs, each case a folder <case>/ (adapter_config.json + adapter_model.safetensors or .bin) and <case>.json:
  logits            PEFT's logits (eval mode) on the inputs of distilbert-tiny-expected.json
  logits_float64    the same after model.double() (where computed)
  trainable_params  what PEFT's from_pretrained(..., is_trainable=True) leaves trainable
  config            the LoraConfig fields used
Every case perturbs lora_B (PEFT starts it at zero) and the biases and heads it saves, so that each tensor of the
file moves the logits. Cases: dropout (item 1), bias-lora-only / bias-all / lora-bias (item 2), bin (item 3),
seq-cls-default / seq-cls-classifier / heads-no-task (item 4), patterns-rslora / layers-exclude (regex targets,
rank/alpha patterns, layers_to_transform, exclude_modules), two adapters and PEFT's weighted combinations
(multi-adapter.json), and training.json: five AdamW steps of PEFT in float32 and float64 from a recorded start.
"""
import argparse
import json
import os
import shutil
import sys

# PEFT keeps target_modules in a set: a fixed hash seed writes it in the same order on every run.
if os.environ.get('PYTHONHASHSEED') != '0':
    os.environ['PYTHONHASHSEED'] = '0'
    os.execv(sys.executable, [sys.executable] + sys.argv)

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures', 'peft')
SHARED = os.path.join(HERE, '..', '..', 'shared', 'fixtures')


def tolist(t):
    """Nested lists; float32 values with 9 significant digits, which is exact for float32 and half as long."""
    t = t.detach().cpu()
    if t.dtype == torch.float32:
        return _round9(t.tolist())
    return t.tolist()


def _round9(v):
    return [_round9(x) for x in v] if isinstance(v, list) else float(f'{v:.9g}')


def load_base(model_dir, dtype=torch.float32):
    m = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=dtype)
    return m.eval()


def perturb(peft_model, seed):
    """Non-zero lora_B (and lora_B.bias), and every trainable bias / head moved, so that each saved tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if 'lora_B' in name or (p.requires_grad and 'lora_A' not in name):
                p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)


def inputs():
    with open(os.path.join(SHARED, 'distilbert-tiny-expected.json')) as f:
        fx = json.load(f)
    return torch.tensor(fx['input_ids']), torch.tensor(fx['attention_mask'])


def logits_of(model):
    ids, mask = inputs()
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def count_trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(peft_model, folder, safe=True):
    shutil.rmtree(folder, ignore_errors=True)
    peft_model.save_pretrained(folder, safe_serialization=safe)
    os.remove(os.path.join(folder, 'README.md'))  # PEFT's model card template: nothing the tests read


def write_case(model_dir, name, config_kwargs, seed, safe=True, float64=False):
    torch.manual_seed(seed)  # lora_A's initialisation: the fixtures come out the same on every run
    base = load_base(model_dir)
    peft_model = get_peft_model(base, LoraConfig(**config_kwargs))
    perturb(peft_model, seed)
    folder = os.path.join(OUT, name)
    save(peft_model, folder, safe)
    # What a PEFT user gets from the folder: from_pretrained on a fresh base, in eval mode (its default).
    loaded = PeftModel.from_pretrained(load_base(model_dir), folder)
    loaded.eval()
    expected = {'config': config_kwargs, 'logits': tolist(logits_of(loaded))}
    expected['base_logits'] = tolist(logits_of(load_base(model_dir)))
    trainable = PeftModel.from_pretrained(load_base(model_dir), folder, is_trainable=True)
    expected['trainable_params'] = count_trainable(trainable)
    expected['trainable_names'] = sorted(n for n, p in trainable.named_parameters() if p.requires_grad)
    if float64:
        expected['logits_float64'] = tolist(logits_of(loaded.double()))
    with open(os.path.join(OUT, name + '.json'), 'w') as f:
        json.dump(expected, f)
        f.write('\n')


def write_multi_adapter(model_dir):
    """Two adapters on one base: each alone, both active at once, and add_weighted_adapter's combinations."""
    folders = {}
    for name, seed, r in [('a', 101, 4), ('b', 102, 4)]:
        torch.manual_seed(seed)
        m = get_peft_model(load_base(model_dir), LoraConfig(r=r, lora_alpha=8, target_modules=['q_lin', 'v_lin']))
        perturb(m, seed)
        folders[name] = os.path.join(OUT, 'multi-' + name)
        save(m, folders[name])
    out = {}
    model = PeftModel.from_pretrained(load_base(model_dir), folders['a'], adapter_name='a')
    model.load_adapter(folders['b'], adapter_name='b')
    model.eval()
    for name in ['a', 'b']:
        model.set_adapter(name)
        out[name] = tolist(logits_of(model))
    model.base_model.set_adapter(['a', 'b'])
    out['a+b'] = tolist(logits_of(model))
    for kind in ['linear', 'cat', 'svd']:
        model.add_weighted_adapter(['a', 'b'], [0.7, 0.3], adapter_name=kind, combination_type=kind)
        model.set_adapter(kind)
        out[kind] = tolist(logits_of(model))
    out['weights'] = [0.7, 0.3]
    with open(os.path.join(OUT, 'multi-adapter.json'), 'w') as f:
        json.dump(out, f)
        f.write('\n')


def write_training(model_dir):
    """Five AdamW steps of PEFT (LoRA on q_lin/v_lin + both heads) in float32 and float64, from a recorded start."""
    ids, mask = inputs()
    labels = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
    batches = [[0, 1, 2, 3], [4, 5, 6, 7], [1, 3, 5, 7], [0, 2, 4, 6], [2, 3, 4, 5]]
    out = {'lr': 1e-2, 'weight_decay': 0.01, 'rank': 4, 'lora_alpha': 8, 'targets': ['q_lin', 'v_lin'],
           'modules_to_save': ['pre_classifier', 'classifier'],
           'batches': [{'input_ids': tolist(ids[b]), 'attention_mask': tolist(mask[b]), 'labels': tolist(labels[b])}
                       for b in batches]}
    for dtype, key, dora in [(torch.float32, 'float32', False), (torch.float64, 'float64', False),
                             (torch.float32, 'dora_float32', True), (torch.float64, 'dora_float64', True)]:
        torch.manual_seed(7)
        base = load_base(model_dir, dtype)
        model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=['q_lin', 'v_lin'], use_dora=dora,
                                                modules_to_save=['pre_classifier', 'classifier']))
        model.eval()  # the tiny model's dropouts are 0; eval keeps the comparison free of randomness
        start = {n: tolist(p) for n, p in model.named_parameters() if p.requires_grad}
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=out['lr'], weight_decay=out['weight_decay'])
        losses = []
        for b in out['batches']:
            opt.zero_grad()
            logits = model(input_ids=torch.tensor(b['input_ids']), attention_mask=torch.tensor(b['attention_mask'])).logits
            loss = torch.nn.functional.cross_entropy(logits, torch.tensor(b['labels']))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[key] = {'start': start, 'losses': losses,
                    'final': {n: tolist(p) for n, p in model.named_parameters() if p.requires_grad}}
    with open(os.path.join(OUT, 'training.json'), 'w') as f:
        json.dump(out, f)
        f.write('\n')


def write_regex_cases():
    """Python's re.fullmatch and PEFT's pattern-key rule on module names, for lib/lora/safe-regex.ts."""
    import re
    names = ['distilbert.transformer.layer.0.attention.q_lin', 'distilbert.transformer.layer.1.attention.v_lin',
             'distilbert.transformer.layer.11.ffn.lin1', 'pre_classifier', 'classifier', 'q_lin', 'a.b', 'a\n',
             'layer.10.x', 'ünïcode.wörd_1', 'x-y', '']
    patterns = [r'.*\.(q_lin|v_lin)', r'.*q_lin', 'q_lin', r'.*layer\.[01]\..*', r'.*\d{2}.*', r'.*\d{1,2}\.ffn.*',
                r'[a-z_]+', r'[^.]+', r'\w+', r'\w+\.\w+', r'(?:pre_)?classifier', r'(?P<head>pre_)?classifier',
                r'.*(?:lin1|lin2)$', r'^classifier$', r'.*?lin.*?', r'a\n', 'a$', r'[\w.]*', r'x\-y', r'[x-z-]+',
                r'(a|b)*', r'.{2,}', r'.{0}', r'[]]', r'\.', r'(ab|a)(bc|c)?', 'lin{1}', '', '[^]]*']
    cases = []
    # The issue-14 pattern, only on short names: Python's own backtracking takes 2^n steps on it.
    for n in ['a.b', 'q_lin', 'x!', '..!']:
        cases.append({'pattern': r'(?:.|.)*(?:.|.)*!', 'name': n, 'fullmatch': re.fullmatch(r'(?:.|.)*(?:.|.)*!', n) is not None,
                      'pattern_key': re.match(r'(.*\.)?((?:.|.)*(?:.|.)*!)$', n) is not None})
    for p in patterns:
        for n in names:
            cases.append({'pattern': p, 'name': n, 'fullmatch': re.fullmatch(p, n) is not None,
                          'pattern_key': re.match(rf'(.*\.)?({p})$', n) is not None})
    with open(os.path.join(OUT, 'regex-cases.json'), 'w') as f:
        json.dump(cases, f)
        f.write('\n')


def write_get_peft_model(model_dir):
    """What get_peft_model makes of LoraConfig fields: the trainable parameters with shapes, for getPeftModel."""
    configs = [
        dict(task_type='SEQ_CLS', r=8, lora_alpha=16, target_modules=['q_lin', 'v_lin']),
        dict(r=4, lora_alpha=8, target_modules=r'.*\.(k_lin|ffn\.lin2)', rank_pattern={'lin2': 2}, alpha_pattern={'k_lin': 3},
             bias='lora_only', use_rslora=True),
        dict(r=2, lora_alpha=4, target_modules=['q_lin', 'k_lin', 'v_lin', 'out_lin', 'lin1', 'lin2'], layers_to_transform=[0],
             exclude_modules=['k_lin'], modules_to_save=['pre_classifier'], bias='all', init_lora_weights='gaussian'),
        dict(r=3, lora_alpha=3, target_modules=['lin1'], modules_to_save=['classifier'], lora_dropout=0.2, lora_bias=True),
    ]
    out = []
    for cfg in configs:
        m = get_peft_model(load_base(model_dir), LoraConfig(**cfg))
        params = {n: list(p.shape) for n, p in m.named_parameters() if p.requires_grad}
        scalings = {n: mod.scaling['default'] for n, mod in m.named_modules() if hasattr(mod, 'scaling') and isinstance(mod.scaling, dict)}
        out.append({'config': cfg, 'trainable_params': sum(p.numel() for p in m.parameters() if p.requires_grad),
                    'trainable': params, 'scalings': scalings})
    with open(os.path.join(OUT, 'get-peft-model.json'), 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', default=os.path.join(SHARED, 'distilbert-tiny-random'))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    qv = ['q_lin', 'v_lin']
    cases = [
        ('dropout', dict(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=qv), {'float64': True}),
        ('bias-lora-only', dict(r=4, lora_alpha=8, target_modules=qv, bias='lora_only'), {}),
        ('bias-all', dict(r=4, lora_alpha=8, target_modules=qv, bias='all'), {}),
        ('lora-bias', dict(r=4, lora_alpha=8, target_modules=qv, lora_bias=True), {}),
        ('bin', dict(r=2, lora_alpha=4, target_modules=['lin1', 'lin2']), {'safe': False}),
        ('seq-cls-default', dict(r=4, lora_alpha=8, target_modules=qv, task_type='SEQ_CLS'), {}),
        ('seq-cls-classifier', dict(r=4, lora_alpha=8, target_modules=qv, task_type='SEQ_CLS',
                                    modules_to_save=['classifier']), {}),
        ('heads-no-task', dict(r=4, lora_alpha=8, target_modules=qv, modules_to_save=['pre_classifier', 'classifier']), {}),
        ('patterns-rslora', dict(r=4, lora_alpha=8, use_rslora=True,
                                 target_modules=r'.*\.(q_lin|k_lin|ffn\.lin1)',
                                 rank_pattern={r'layer\.1\.attention\.q_lin': 2, 'k_lin': 6},
                                 alpha_pattern={r'lin\d': 3, r'.*0\.attention\.k_lin': 5}), {}),
        ('layers-exclude', dict(r=3, lora_alpha=6, target_modules=['q_lin', 'k_lin', 'v_lin', 'out_lin'],
                                layers_to_transform=[1], exclude_modules=['out_lin']), {}),
        ('dora', dict(r=4, lora_alpha=8, lora_dropout=0.1, target_modules=['q_lin', 'v_lin', 'lin1'], use_dora=True,
                      task_type='SEQ_CLS'), {'float64': True}),
    ]
    for i, (name, kwargs, extra) in enumerate(cases):
        write_case(args.model, name, kwargs, seed=10 + i, **extra)
        print('wrote', name)
    write_multi_adapter(args.model)
    print('wrote multi-adapter')
    write_training(args.model)
    print('wrote training')
    write_regex_cases()
    print('wrote regex-cases')
    write_get_peft_model(args.model)
    print('wrote get-peft-model')


if __name__ == '__main__':
    main()
