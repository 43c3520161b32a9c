#!/usr/bin/python3
"""An independent, plain-PyTorch reference of Hugging Face's DistilBertForSequenceClassification forward pass,
with PEFT LoRA adapters, for checking torch-lora against something that is not torch-lora.

It uses neither transformers, peft nor safetensors (none are installed here): the safetensors format is parsed and
written by hand, the forward pass is written out op by op the way transformers' eager DistilBERT does it, and PEFT
adapter folders are read the way PEFT 0.13 reads them.

Run with Debian's python3 and torch:
    /usr/bin/python3 tools/reference/distilbert_reference.py --self-check
        checks this implementation against the logits and [CLS] hidden states that transformers computed for the tiny
        checkpoint (/work/shared/fixtures/distilbert-tiny-expected.json), from model.safetensors and from
        pytorch_model.bin; fails unless both agree to 1e-5.
    /usr/bin/python3 tools/reference/distilbert_reference.py MODEL_DIR [--adapter ADAPTER_DIR] [--inputs JSON]
        prints the logits (and [CLS] hidden states) as JSON.

The model (transformers' modeling_distilbert.py, eager attention, eval mode so every dropout is the identity):
    embeddings  x = LayerNorm_1e-12(word_embeddings[ids] + position_embeddings[0..L-1])
    each layer  q, k, v = q_lin(x), k_lin(x), v_lin(x), split into n_heads heads of dim/n_heads
                scores = (q / sqrt(dim/n_heads)) @ k^T, masked_fill(attention_mask == 0, finfo(float32).min)
                sa = sa_layer_norm(out_lin(softmax(scores) @ v) + x)
                x = output_layer_norm(lin2(gelu(lin1(sa))) + sa)          (gelu: the exact, erf form)
    head        logits = classifier(relu(pre_classifier(x[:, 0])))
A LoRA-adapted Linear (PEFT layout, lora_A.weight [r, in], lora_B.weight [out, r]) computes
    y = x W^T + b + scaling * ((x lora_A^T) lora_B^T),   scaling = lora_alpha / r   (lora_alpha / sqrt(r) with use_rslora)
"""
import argparse
import collections
import json
import math
import os
import re
import struct
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))
SHARED_FIXTURES = os.path.normpath(os.path.join(REPO, '..', 'shared', 'fixtures'))
TINY_MODEL = os.path.join(SHARED_FIXTURES, 'distilbert-tiny-random')
TINY_EXPECTED = os.path.join(SHARED_FIXTURES, 'distilbert-tiny-expected.json')

# transformers' DistilBertConfig defaults (config.json files override them).
DEFAULT_CONFIG = {
    'vocab_size': 30522, 'max_position_embeddings': 512, 'sinusoidal_pos_embds': False, 'n_layers': 6,
    'n_heads': 12, 'dim': 768, 'hidden_dim': 3072, 'activation': 'gelu', 'pad_token_id': 0,
    'id2label': {'0': 'LABEL_0', '1': 'LABEL_1'},
}

# ---------------------------------------------------------------------------------------------------------------
# safetensors, by hand: u64 little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} (plus an
# optional "__metadata__" of strings), padded with spaces to a multiple of 8, then the raw little-endian bytes.

ST_DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool,
}
ST_NAMES = {v: k for k, v in ST_DTYPES.items()}
# The safetensors library writes tensors by decreasing dtype alignment, then by name.
ST_ALIGNMENT_ORDER = ['BOOL', 'U8', 'I8', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64']


def read_safetensors(path):
    """Returns (OrderedDict name -> tensor, metadata dict)."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', None) or {}
    base = 8 + n
    tensors = collections.OrderedDict()
    for name, info in sorted(header.items(), key=lambda kv: kv[1]['data_offsets'][0]):
        dtype = ST_DTYPES[info['dtype']]
        start, end = info['data_offsets']
        shape = info['shape']
        numel = math.prod(shape)
        if numel == 0:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        raw = bytearray(data[base + start:base + end])
        if dtype == torch.bfloat16:
            t = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(raw, dtype=dtype)
        if t.numel() != numel:
            raise ValueError(f'{path}: {name} has {t.numel()} elements for shape {shape}')
        tensors[name] = t.reshape(shape).clone()
    return tensors, metadata


def _tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata=None):
    """Writes as the safetensors library does: "__metadata__" first, then the tensors by decreasing dtype alignment and
    name (for an all-float32 file: sorted by name), compact JSON padded with spaces to a multiple of 8 bytes."""
    names = sorted(tensors, key=lambda n: (-ST_ALIGNMENT_ORDER.index(ST_NAMES[tensors[n].dtype]), n))
    header = collections.OrderedDict()
    if metadata is not None:
        header['__metadata__'] = metadata
    chunks, offset = [], 0
    for name in names:
        data = _tensor_bytes(tensors[name])
        header[name] = {'dtype': ST_NAMES[tensors[name].dtype], 'shape': list(tensors[name].shape),
                        'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(',', ':')).encode('utf-8')
    header_bytes += b' ' * (-len(header_bytes) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(header_bytes)))
        f.write(header_bytes)
        for c in chunks:
            f.write(c)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints and configs.

def load_state_dict(path):
    """A model folder (model.safetensors, else pytorch_model.bin), a .safetensors file or a torch.save checkpoint."""
    if os.path.isdir(path):
        for name in ('model.safetensors', 'pytorch_model.bin'):
            if os.path.exists(os.path.join(path, name)):
                return load_state_dict(os.path.join(path, name))
        raise FileNotFoundError(f'{path}: neither model.safetensors nor pytorch_model.bin')
    if path.endswith('.safetensors'):
        return read_safetensors(path)[0]
    sd = torch.load(path, map_location='cpu')
    return collections.OrderedDict((k, v) for k, v in sd.items())


def load_config(path):
    config = dict(DEFAULT_CONFIG)
    file = os.path.join(path, 'config.json') if os.path.isdir(path) else path
    with open(file) as f:
        config.update(json.load(f))
    return config


def num_labels(config):
    return len(config.get('id2label') or {}) or 2


def parameter_shapes(config):
    """DistilBertForSequenceClassification's parameters in transformers' state-dict order, with their shapes."""
    d, h, out = config['dim'], config['hidden_dim'], num_labels(config)
    entries = [
        ('distilbert.embeddings.word_embeddings.weight', [config['vocab_size'], d]),
        ('distilbert.embeddings.position_embeddings.weight', [config['max_position_embeddings'], d]),
        ('distilbert.embeddings.LayerNorm.weight', [d]),
        ('distilbert.embeddings.LayerNorm.bias', [d]),
    ]
    for i in range(config['n_layers']):
        p = f'distilbert.transformer.layer.{i}.'
        for lin in ('q_lin', 'k_lin', 'v_lin', 'out_lin'):
            entries += [(f'{p}attention.{lin}.weight', [d, d]), (f'{p}attention.{lin}.bias', [d])]
        entries += [(f'{p}sa_layer_norm.weight', [d]), (f'{p}sa_layer_norm.bias', [d])]
        entries += [(f'{p}ffn.lin1.weight', [h, d]), (f'{p}ffn.lin1.bias', [h])]
        entries += [(f'{p}ffn.lin2.weight', [d, h]), (f'{p}ffn.lin2.bias', [d])]
        entries += [(f'{p}output_layer_norm.weight', [d]), (f'{p}output_layer_norm.bias', [d])]
    entries += [('pre_classifier.weight', [d, d]), ('pre_classifier.bias', [d])]
    entries += [('classifier.weight', [out, d]), ('classifier.bias', [out])]
    return entries


def module_names(config):
    """Every module of the model that holds parameters (the names PEFT matches modules_to_save against), in order."""
    seen = []
    for name, _ in parameter_shapes(config):
        m = name.rsplit('.', 1)[0]
        if m not in seen:
            seen.append(m)
    return seen


LINEAR_SUFFIXES = ('q_lin', 'k_lin', 'v_lin', 'out_lin', 'lin1', 'lin2', 'pre_classifier', 'classifier')


def linear_names(config):
    return [m for m in module_names(config) if m.split('.')[-1] in LINEAR_SUFFIXES]


# ---------------------------------------------------------------------------------------------------------------
# PEFT adapters (the LoRA subset PEFT 0.13 writes for a Linear-only model).

PEFT_PREFIX = 'base_model.model.'


def peft_pattern_key(pattern_keys, module_name):
    """PEFT 0.13's lookup in rank_pattern / alpha_pattern (LoraModel._create_and_replace): the first key k, taken as a
    regular expression, with re.match(rf'.*\\.{k}$', name); when none matches, the module's own full name, which is then
    looked up literally (rank_pattern.get(name, r)). Later versions use rf'(.*\\.)?({k})$': the same modules."""
    return next((k for k in pattern_keys if re.match(rf'.*\.{k}$', module_name)), module_name)


def peft_target_matches(target_modules, name):
    """PEFT's check_target_module_exists for target_modules: a regex string must fullmatch the module name; a list
    entry must equal the name or be a dotted suffix of it."""
    if isinstance(target_modules, str):
        return re.fullmatch(target_modules, name) is not None
    return name in target_modules or any(name.endswith('.' + t) for t in target_modules)


def peft_modules_to_save_matches(modules_to_save, name):
    """PEFT's _set_trainable: key.endswith(entry), with no dot, so 'classifier' also wraps 'pre_classifier'."""
    return any(name.endswith(entry) for entry in modules_to_save or [])


def read_adapter(adapter_dir, config, strict=True):
    """Reads a PEFT LoRA adapter folder into {'lora': {module: (A [r,in], B [out,r], scaling)}, 'saved': {param: tensor},
    'config': adapter_config}. Follows PEFT 0.13's rules for target_modules, rank_pattern, alpha_pattern and
    modules_to_save. With strict, a targeted module without weights in the file is an error (PEFT would leave it at its
    initialisation, B = 0, with a warning)."""
    with open(os.path.join(adapter_dir, 'adapter_config.json')) as f:
        cfg = json.load(f)
    if cfg.get('peft_type') != 'LORA':
        raise ValueError(f"peft_type {cfg.get('peft_type')!r}: only LORA is supported")
    for key, ok in (('fan_in_fan_out', False), ('use_dora', False), ('bias', 'none')):
        if cfg.get(key, ok) != ok:
            raise ValueError(f'{key}={cfg[key]!r} is not supported by this reference')
    if cfg.get('layer_replication'):
        raise ValueError('layer_replication is not supported by this reference')
    st = os.path.join(adapter_dir, 'adapter_model.safetensors')
    if os.path.exists(st):
        tensors, _ = read_safetensors(st)
    else:
        tensors = torch.load(os.path.join(adapter_dir, 'adapter_model.bin'), map_location='cpu')
    # PEFT's set_peft_model_state_dict: keys carry the 'base_model.model.' prefix and no adapter name.
    weights = {}
    for k, v in tensors.items():
        if not k.startswith(PEFT_PREFIX):
            raise ValueError(f'unexpected key {k!r} (PEFT keys start with {PEFT_PREFIX!r})')
        weights[k[len(PEFT_PREFIX):]] = v.float()

    targets = cfg['target_modules']
    if targets == 'all-linear':
        # PEFT: every Linear except the output layer.
        targets = [m for m in linear_names(config) if m != 'classifier']
    modules_to_save = cfg.get('modules_to_save') or []
    layers = cfg.get('layers_to_transform')
    if isinstance(layers, int):
        layers = [layers]
    rank_pattern = cfg.get('rank_pattern') or {}
    alpha_pattern = cfg.get('alpha_pattern') or {}
    pattern_keys = list(rank_pattern) + list(alpha_pattern)
    shapes = dict(parameter_shapes(config))

    lora = collections.OrderedDict()
    for name in linear_names(config):
        if peft_modules_to_save_matches(modules_to_save, name):
            continue  # PEFT never puts LoRA inside a modules_to_save wrapper
        if not peft_target_matches(targets, name):
            continue
        if layers is not None:
            m = re.match(rf".*\.{cfg.get('layers_pattern') or 'layer'}\.(\d+)\.", name)
            if not m or int(m.group(1)) not in layers:
                continue
        key = peft_pattern_key(pattern_keys, name)
        r = rank_pattern.get(key, cfg['r'])
        alpha = alpha_pattern.get(key, cfg['lora_alpha'])
        a_key, b_key = f'{name}.lora_A.weight', f'{name}.lora_B.weight'
        if a_key not in weights:
            if strict:
                raise ValueError(f'{adapter_dir}: {name} is targeted but the file has no {a_key}')
            continue
        out_f, in_f = shapes[f'{name}.weight']
        A, B = weights.pop(a_key), weights.pop(b_key)
        if list(A.shape) != [r, in_f] or list(B.shape) != [out_f, r]:
            raise ValueError(f'{name}: lora_A {list(A.shape)} / lora_B {list(B.shape)} do not fit r={r} '
                             f'(PEFT would fail with a size mismatch)')
        scaling = alpha / math.sqrt(r) if cfg.get('use_rslora') else alpha / r
        lora[name] = (A, B, scaling)

    saved = {}
    for name in module_names(config):
        if not peft_modules_to_save_matches(modules_to_save, name):
            continue
        for pname, shape in parameter_shapes(config):
            if pname.rsplit('.', 1)[0] != name or pname not in weights:
                continue
            t = weights.pop(pname)
            if list(t.shape) != shape:
                raise ValueError(f'{pname}: shape {list(t.shape)}, the model has {shape}')
            saved[pname] = t
    leftover = [k for k in weights if '.lora_' in k]
    if leftover:
        raise ValueError(f'{adapter_dir}: LoRA weights for modules PEFT would not adapt: {leftover[:4]}')
    return {'lora': lora, 'saved': saved, 'config': cfg, 'unused': sorted(weights)}


# ---------------------------------------------------------------------------------------------------------------
# The forward pass.

class DistilBertReference:
    def __init__(self, state_dict, config, adapter=None, dtype=torch.float32):
        self.config = config
        self.sd = {k: v.to(dtype) for k, v in state_dict.items() if not k.endswith('position_ids')}
        if not any(k.startswith('distilbert.') for k in self.sd):  # a bare DistilBertModel checkpoint
            self.sd = {('distilbert.' + k if not k.startswith(('pre_classifier', 'classifier')) else k): v
                       for k, v in self.sd.items()}
        missing = [n for n, _ in parameter_shapes(config) if n not in self.sd]
        if missing:
            raise KeyError(f'state dict lacks {missing[:5]}')
        self.lora = {}
        if adapter is not None:
            self.sd.update({k: v.to(dtype) for k, v in adapter['saved'].items()})
            self.lora = {k: (A.to(dtype), B.to(dtype), s) for k, (A, B, s) in adapter['lora'].items()}

    def linear(self, name, x):
        y = F.linear(x, self.sd[name + '.weight'], self.sd.get(name + '.bias'))
        if name in self.lora:
            A, B, scaling = self.lora[name]
            y = y + F.linear(F.linear(x, A), B) * scaling  # PEFT: lora_B(lora_A(dropout(x))) * scaling
        return y

    def layer_norm(self, name, x):
        return F.layer_norm(x, (x.shape[-1],), self.sd[name + '.weight'], self.sd[name + '.bias'], eps=1e-12)

    def embeddings(self, input_ids):
        seq_len = input_ids.shape[1]
        word = self.sd['distilbert.embeddings.word_embeddings.weight'][input_ids]
        pos = self.sd['distilbert.embeddings.position_embeddings.weight'][torch.arange(seq_len)]
        return self.layer_norm('distilbert.embeddings.LayerNorm', word + pos.unsqueeze(0))

    def attention(self, p, x, mask):
        bs, q_len, dim = x.shape
        n_heads = self.config['n_heads']
        dph = dim // n_heads

        def shape(t):
            return t.view(bs, -1, n_heads, dph).transpose(1, 2)

        q = shape(self.linear(p + 'q_lin', x))
        k = shape(self.linear(p + 'k_lin', x))
        v = shape(self.linear(p + 'v_lin', x))
        q = q / math.sqrt(dph)
        scores = torch.matmul(q, k.transpose(2, 3))                   # [bs, heads, q_len, k_len]
        masked = (mask == 0).view(bs, 1, 1, -1).expand_as(scores)
        scores = scores.masked_fill(masked, torch.tensor(torch.finfo(scores.dtype).min))
        weights = torch.softmax(scores, dim=-1)
        context = torch.matmul(weights, v).transpose(1, 2).contiguous().view(bs, -1, n_heads * dph)
        return self.linear(p + 'out_lin', context)

    def ffn(self, p, x):
        h = self.linear(p + 'lin1', x)
        h = F.gelu(h) if self.config.get('activation', 'gelu') == 'gelu' else F.relu(h)
        return self.linear(p + 'lin2', h)

    def encode(self, input_ids, attention_mask=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        x = self.embeddings(input_ids)
        for i in range(self.config['n_layers']):
            p = f'distilbert.transformer.layer.{i}.'
            sa = self.layer_norm(p + 'sa_layer_norm', self.attention(p + 'attention.', x, attention_mask) + x)
            x = self.layer_norm(p + 'output_layer_norm', self.ffn(p + 'ffn.', sa) + sa)
        return x

    def forward(self, input_ids, attention_mask=None):
        """Returns (logits [bs, num_labels], [CLS] hidden state [bs, dim])."""
        with torch.no_grad():
            hidden = self.encode(input_ids, attention_mask)
            cls = hidden[:, 0]
            pooled = torch.relu(self.linear('pre_classifier', cls))
            return self.linear('classifier', pooled), cls


def load_model(model_dir, adapter_dir=None, weights_file=None):
    config = load_config(model_dir)
    sd = load_state_dict(weights_file or model_dir)
    adapter = read_adapter(adapter_dir, config) if adapter_dir else None
    return DistilBertReference(sd, config, adapter)


def tolist(t):
    return t.detach().double().tolist()


def max_abs_diff(t, expected):
    return (t.double() - torch.tensor(expected, dtype=torch.float64)).abs().max().item()


def self_check(tol=1e-5):
    with open(TINY_EXPECTED) as f:
        expected = json.load(f)
    ids = torch.tensor(expected['input_ids'])
    mask = torch.tensor(expected['attention_mask'])
    config = load_config(TINY_MODEL)
    ok = True
    for file in ('model.safetensors', 'pytorch_model.bin'):
        sd = load_state_dict(os.path.join(TINY_MODEL, file))
        if file == 'pytorch_model.bin':
            order = [k for k in sd if not k.endswith('position_ids')]
            if order != [n for n, _ in parameter_shapes(config)]:
                print('state-dict order differs from parameter_shapes():', order)
                ok = False
        logits, cls = DistilBertReference(sd, config).forward(ids, mask)
        dl, dh = max_abs_diff(logits, expected['logits']), max_abs_diff(cls, expected['cls_hidden'])
        print(f'{file}: max |logits - transformers| = {dl:.3g}, max |[CLS] hidden - transformers| = {dh:.3g}')
        ok = ok and dl <= tol and dh <= tol
    # The safetensors writer round-trips what the reader reads.
    import tempfile
    sd, _ = read_safetensors(os.path.join(TINY_MODEL, 'model.safetensors'))
    with tempfile.TemporaryDirectory() as tmp:
        write_safetensors(os.path.join(tmp, 'x.safetensors'), sd, {'format': 'pt'})
        again, meta = read_safetensors(os.path.join(tmp, 'x.safetensors'))
        ok = ok and meta == {'format': 'pt'} and sorted(again) == sorted(sd) and all(torch.equal(again[k], sd[k]) for k in sd)
    assert ok, f'self-check failed (tolerance {tol})'
    print('self-check passed')


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('model', nargs='?', default=TINY_MODEL, help='model folder (config.json + weights)')
    ap.add_argument('--adapter', help='PEFT adapter folder to apply')
    ap.add_argument('--inputs', default=TINY_EXPECTED, help='JSON with input_ids and attention_mask')
    ap.add_argument('--self-check', action='store_true', help='compare with transformers\' outputs for the tiny model')
    args = ap.parse_args()
    if args.self_check:
        self_check()
        return
    with open(args.inputs) as f:
        inputs = json.load(f)
    model = load_model(args.model, args.adapter)
    logits, cls = model.forward(torch.tensor(inputs['input_ids']), torch.tensor(inputs['attention_mask']))
    json.dump({'logits': tolist(logits), 'cls_hidden': tolist(cls)}, sys.stdout)
    print()


if __name__ == '__main__':
    main()
