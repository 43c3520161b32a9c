#!/usr/bin/python3
"""Writes the fixtures of test/reference.test.ts into test/fixtures/reference/, from the independent plain-PyTorch
reference in distilbert_reference.py (no transformers, peft or safetensors needed).

Run with Debian's python3 and torch (about half a minute):
    /usr/bin/python3 tools/reference/make_reference_fixtures.py

Outputs:
  distilbert-base-formula.json
      A full-size check without committing weights: DistilBERT-base's shape (dim 768, 6 layers, 12 heads, hidden 3072,
      vocab 30522, 512 positions, 2 labels) with every weight given by THE FORMULA below, the inputs (3 sequences of
      lengths 128, 77 and 9, padded to 128, random ids in [0, 30522) from a fixed seed) and the reference's logits and
      [CLS] hidden states, in float32 and, for information, in float64. Also the tensor names in state-dict order with
      their shapes and a fingerprint of each generated tensor (float64 sum and three values), so that a mismatch in
      weight generation is told apart from a mismatch in the forward pass.
  peft-tiny-adapter/, peft-tiny-adapter-rslora/
      PEFT LoRA adapters for the tiny checkpoint (/work/shared/fixtures/distilbert-tiny-random), written the way
      PEFT 0.13's PeftModelForSequenceClassification.save_pretrained writes them (adapter_config.json: every LoraConfig
      field, json.dumps(indent=2, sort_keys=True); adapter_model.safetensors: "__metadata__" {"format": "pt"}, keys
      `base_model.model.<module>.lora_A.weight` [r, in] / `.lora_B.weight` [out, r], saved modules as
      `base_model.model.<module>.<param>`), with random non-zero A and B (std 0.1, fixed seed).
        peft-tiny-adapter:        q_lin and v_lin of both layers, r 4, lora_alpha 16 (scaling 4), user
                                  modules_to_save ['classifier'].
        peft-tiny-adapter-rslora: the same targets, r 4, lora_alpha 16, use_rslora (scaling 16/sqrt(r)), rank_pattern
                                  {"layer.1.*.v_lin": 2} (a regular expression, as PEFT reads pattern keys: rank 2
                                  for layer 1's v_lin only), lora_dropout 0.1, user modules_to_save None.
      Two PEFT 0.13 behaviours shape these files (and are what a loader must cope with):
        * for SEQ_CLS, PEFT appends ["classifier", "score"] to modules_to_save, so the saved list reads
          ["classifier", "classifier", "score"] (or ["classifier", "score"] when the user gave none);
        * modules_to_save entries match by a plain suffix (key.endswith(entry)), so "classifier" also wraps, trains and
          saves DistilBERT's `pre_classifier`; both heads are therefore saved here, both modified.
  peft-tiny-expected.json, peft-tiny-rslora-expected.json
      The reference's logits and [CLS] hidden states of the tiny model with each adapter, on the inputs of
      distilbert-tiny-expected.json (copied in), plus the base model's logits and each module's scaling.

THE FORMULA (also documented in test/reference.test.ts, which computes it with the same libtorch ops):
    for the k-th tensor of the model's state dict (k = 0, 1, 2, ..., in transformers' state-dict order; parameters
    only, no buffers), with n = numel:
        v = sin(arange(n, dtype=float32) * 0.37 + k) * 0.02          (all float32 ops), reshaped to the tensor's shape
        LayerNorm weights (embeddings.LayerNorm, sa_layer_norm, output_layer_norm): 1 + v
"""
import collections
import json
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distilbert_reference as ref  # noqa: E402

OUT = os.path.join(ref.REPO, 'test', 'fixtures', 'reference')

BASE_CONFIG = dict(ref.DEFAULT_CONFIG, vocab_size=30522, max_position_embeddings=512, n_layers=6, n_heads=12, dim=768,
                   hidden_dim=3072, activation='gelu', id2label={'0': 'LABEL_0', '1': 'LABEL_1'})
FORMULA = ('k-th state-dict tensor (k = 0, 1, ...; transformers order, parameters only): '
           'sin(arange(numel, dtype=float32) * 0.37 + k) * 0.02 reshaped to its shape; LayerNorm weights: 1 + that')
LENGTHS = [128, 77, 9]
INPUT_SEED = 1234
ADAPTER_SEED = 2024


def is_layer_norm_weight(name):
    return name.endswith(('LayerNorm.weight', 'layer_norm.weight'))


def formula_tensor(k, shape, layer_norm_weight):
    """THE FORMULA: the k-th tensor's values."""
    n = math.prod(shape)
    v = torch.sin(torch.arange(n, dtype=torch.float32) * 0.37 + k) * 0.02
    if layer_norm_weight:
        v = 1 + v
    return v.reshape(shape)


def formula_state_dict(config):
    return collections.OrderedDict(
        (name, formula_tensor(k, shape, is_layer_norm_weight(name)))
        for k, (name, shape) in enumerate(ref.parameter_shapes(config)))


def f32(values):
    """Nested lists of float32 values, each written with the 9 significant digits that round-trip a float32."""
    if isinstance(values, list):
        return [f32(v) for v in values]
    return float('%.9g' % values)


def fingerprint(t):
    flat = t.reshape(-1)
    n = flat.numel()
    return {'sum': flat.double().sum().item(), 'at': [0, n // 2, n - 1],
            'values': [flat[0].item(), flat[n // 2].item(), flat[n - 1].item()]}


def make_formula_fixture():
    t0 = time.time()
    sd = formula_state_dict(BASE_CONFIG)
    g = torch.Generator().manual_seed(INPUT_SEED)
    ids = torch.randint(0, BASE_CONFIG['vocab_size'], (len(LENGTHS), max(LENGTHS)), generator=g)
    mask = (torch.arange(max(LENGTHS)).unsqueeze(0) < torch.tensor(LENGTHS).unsqueeze(1)).long()
    ids = ids * mask  # padding positions hold pad_token_id 0
    logits, cls = ref.DistilBertReference(sd, BASE_CONFIG).forward(ids, mask)
    logits64, cls64 = ref.DistilBertReference(sd, BASE_CONFIG, dtype=torch.float64).forward(ids, mask)
    print(f'formula model: float32 vs float64 reference: logits {ref.max_abs_diff(logits, logits64.tolist()):.3g}, '
          f'[CLS] {ref.max_abs_diff(cls, cls64.tolist()):.3g} ({time.time() - t0:.1f}s)')
    out = {
        'about': 'DistilBERT-base-sized DistilBertForSequenceClassification with formula weights, run by '
                 'tools/reference/distilbert_reference.py (eval mode); written by tools/reference/make_reference_fixtures.py',
        'formula': FORMULA,
        'config': {k: BASE_CONFIG[k] for k in ('vocab_size', 'max_position_embeddings', 'n_layers', 'n_heads', 'dim',
                                               'hidden_dim', 'activation', 'pad_token_id', 'id2label')},
        'tensors': [{'name': name, 'shape': shape, **fingerprint(sd[name])} for name, shape in ref.parameter_shapes(BASE_CONFIG)],
        'lengths': LENGTHS,
        'input_ids': ids.tolist(),
        'attention_mask': mask.tolist(),
        'logits': f32(logits.tolist()),
        'cls_hidden': f32(cls.tolist()),
        'logits_float64': logits64.tolist(),
        'cls_hidden_float64': cls64.tolist(),
    }
    write_json(os.path.join(OUT, 'distilbert-base-formula.json'), out)


# ---------------------------------------------------------------------------------------------------------------
# PEFT adapters.

def peft_lora_config(r, lora_alpha, target_modules, modules_to_save, use_rslora=False, rank_pattern=None,
                     alpha_pattern=None, lora_dropout=0.0, base_model_name_or_path='distilbert-tiny-random'):
    """adapter_config.json as PEFT 0.13 writes it for PeftModelForSequenceClassification: every field of LoraConfig
    (0.13 has no exclude_modules / lora_bias / eva_config yet), inference_mode true (save_pretrained sets it), sets
    turned into lists, and ["classifier", "score"] appended to modules_to_save by the SEQ_CLS wrapper."""
    saved_modules = (list(modules_to_save) if modules_to_save else []) + ['classifier', 'score']
    return {
        'alpha_pattern': alpha_pattern or {},
        'auto_mapping': None,
        'base_model_name_or_path': base_model_name_or_path,
        'bias': 'none',
        'fan_in_fan_out': False,
        'inference_mode': True,
        'init_lora_weights': True,
        'layer_replication': None,
        'layers_pattern': None,
        'layers_to_transform': None,
        'loftq_config': {},
        'lora_alpha': lora_alpha,
        'lora_dropout': lora_dropout,
        'megatron_config': None,
        'megatron_core': 'megatron.core',
        'modules_to_save': saved_modules,
        'peft_type': 'LORA',
        'r': r,
        'rank_pattern': rank_pattern or {},
        'revision': None,
        'target_modules': list(target_modules),
        'task_type': 'SEQ_CLS',
        'use_dora': False,
        'use_rslora': use_rslora,
    }


def make_peft_adapter(folder, base_sd, config, cfg, seed):
    """Random non-zero LoRA weights for every module PEFT would adapt, and perturbed copies of every module PEFT would
    wrap in a ModulesToSaveWrapper; writes the folder as PEFT does and returns the tensors (keys with the prefix)."""
    g = torch.Generator().manual_seed(seed)
    shapes = dict(ref.parameter_shapes(config))
    pattern_keys = list(cfg['rank_pattern']) + list(cfg['alpha_pattern'])
    tensors = {}
    for name in ref.linear_names(config):
        if ref.peft_modules_to_save_matches(cfg['modules_to_save'], name) or not ref.peft_target_matches(cfg['target_modules'], name):
            continue
        r = cfg['rank_pattern'].get(ref.peft_pattern_key(pattern_keys, name), cfg['r'])
        out_f, in_f = shapes[f'{name}.weight']
        tensors[f'{ref.PEFT_PREFIX}{name}.lora_A.weight'] = torch.randn(r, in_f, generator=g) * 0.1
        tensors[f'{ref.PEFT_PREFIX}{name}.lora_B.weight'] = torch.randn(out_f, r, generator=g) * 0.1
    for name in ref.module_names(config):
        if not ref.peft_modules_to_save_matches(cfg['modules_to_save'], name):
            continue
        for pname, shape in ref.parameter_shapes(config):
            if pname.rsplit('.', 1)[0] == name:
                tensors[ref.PEFT_PREFIX + pname] = base_sd[pname] + torch.randn(shape, generator=g) * 0.1
    path = os.path.join(OUT, folder)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, 'adapter_config.json'), 'w') as f:
        f.write(json.dumps(cfg, indent=2, sort_keys=True))  # PeftConfigMixin.save_pretrained: no trailing newline
    ref.write_safetensors(os.path.join(path, 'adapter_model.safetensors'), tensors, {'format': 'pt'})
    return tensors


def merged_state_dict(base_sd, adapter):
    """The adapter folded into the weights (W + scaling * B A), an independent second route to the same outputs."""
    sd = dict(base_sd)
    sd.update(adapter['saved'])
    for name, (A, B, scaling) in adapter['lora'].items():
        sd[f'{name}.weight'] = (sd[f'{name}.weight'].double() + scaling * (B.double() @ A.double())).float()
    return sd


def make_peft_fixtures():
    config = ref.load_config(ref.TINY_MODEL)
    base_sd = ref.load_state_dict(ref.TINY_MODEL)
    with open(ref.TINY_EXPECTED) as f:
        tiny = json.load(f)
    ids, mask = torch.tensor(tiny['input_ids']), torch.tensor(tiny['attention_mask'])
    base_logits, _ = ref.DistilBertReference(base_sd, config).forward(ids, mask)
    variants = [
        ('peft-tiny-adapter', 'peft-tiny-expected.json',
         peft_lora_config(4, 16, ['q_lin', 'v_lin'], ['classifier']), ADAPTER_SEED),
        ('peft-tiny-adapter-rslora', 'peft-tiny-rslora-expected.json',
         peft_lora_config(4, 16, ['q_lin', 'v_lin'], None, use_rslora=True,
                          rank_pattern={'layer.1.*.v_lin': 2}, lora_dropout=0.1), ADAPTER_SEED + 1),
    ]
    for folder, expected_file, cfg, seed in variants:
        make_peft_adapter(folder, base_sd, config, cfg, seed)
        adapter = ref.read_adapter(os.path.join(OUT, folder), config)
        assert sorted(adapter['saved']) == ['classifier.bias', 'classifier.weight', 'pre_classifier.bias', 'pre_classifier.weight']
        assert not adapter['unused'], adapter['unused']
        logits, cls = ref.DistilBertReference(base_sd, config, adapter).forward(ids, mask)
        merged, merged_cls = ref.DistilBertReference(merged_state_dict(base_sd, adapter), config).forward(ids, mask)
        d = max(ref.max_abs_diff(logits, merged.tolist()), ref.max_abs_diff(cls, merged_cls.tolist()))
        assert d < 1e-5, f'{folder}: unmerged and merged adapter disagree by {d}'
        change = (logits - base_logits).abs().max().item()
        assert change > 0.05, f'{folder}: the adapter hardly changes the logits ({change})'
        print(f'{folder}: {len(adapter["lora"])} LoRA modules, scalings '
              f'{sorted(set(round(s, 6) for _, _, s in adapter["lora"].values()))}; merged vs unmerged {d:.3g}; '
              f'max logit change vs base {change:.3g}')
        write_json(os.path.join(OUT, expected_file), {
            'about': f'logits and [CLS] hidden states of distilbert-tiny-random with the PEFT adapter in {folder}/ applied '
                     '(eval mode), on the inputs of distilbert-tiny-expected.json; computed by '
                     'tools/reference/distilbert_reference.py, written by tools/reference/make_reference_fixtures.py',
            'adapter': folder,
            'scalings': {name: s for name, (_, _, s) in adapter['lora'].items()},
            'ranks': {name: A.shape[0] for name, (A, _, _) in adapter['lora'].items()},
            'input_ids': tiny['input_ids'],
            'attention_mask': tiny['attention_mask'],
            'logits': f32(logits.tolist()),
            'cls_hidden': f32(cls.tolist()),
            'base_logits': f32(base_logits.tolist()),
        })


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {os.path.relpath(path, ref.REPO)} ({os.path.getsize(path)} bytes)')


def main():
    torch.manual_seed(0)
    make_peft_fixtures()
    make_formula_fixture()


if __name__ == '__main__':
    main()
