#!/usr/bin/env python3
"""The PyTorch side of `npm run bench`: the same workloads as bench/workloads.ts, written as a PyTorch user would.

    python3 bench/pytorch_bench.py --workload train-lora --json [--quick] [--device cuda] [--dtype bf16] [--threads N]

On the CPU it times a plain-PyTorch DistilBERT with the structure and math of Hugging Face's
(embeddings + LayerNorm, per layer q/k/v/out linear, matmul-softmax attention with a mask, GELU FFN, [CLS] head)
and a LoRA wrapper y = linear(x) + alpha * (x @ A @ B) on q_lin and v_lin. When `transformers` and `peft` import,
it also times Hugging Face's DistilBertForSequenceClassification with a peft LoRA adapter ("hf" results): the
Python reference users would otherwise run.

Each run prints one JSON object (with --json) holding the medians, every sample, and the peak memory of this
process: the RSS high-water mark (VmHWM) on the CPU, torch.cuda.max_memory_allocated on CUDA.
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------- the model
BASE_CONFIG = dict(vocab_size=30522, max_position_embeddings=512, n_layers=6, n_heads=12, dim=768, hidden_dim=3072,
                   dropout=0.1, attention_dropout=0.1, seq_classif_dropout=0.2, initializer_range=0.02, pad_token_id=0,
                   num_labels=2)
# The size the unit tests use, for --tiny smoke runs.
TINY_CONFIG = dict(BASE_CONFIG, vocab_size=128, max_position_embeddings=64, n_layers=2, n_heads=2, dim=32, hidden_dim=64)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c['vocab_size'], c['dim'], padding_idx=c['pad_token_id'])
        self.position_embeddings = nn.Embedding(c['max_position_embeddings'], c['dim'])
        self.LayerNorm = nn.LayerNorm(c['dim'], eps=1e-12)
        self.dropout = nn.Dropout(c['dropout'])

    def forward(self, input_ids):
        positions = torch.arange(input_ids.size(1), device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_heads, self.dim = c['n_heads'], c['dim']
        self.q_lin = nn.Linear(c['dim'], c['dim'])
        self.k_lin = nn.Linear(c['dim'], c['dim'])
        self.v_lin = nn.Linear(c['dim'], c['dim'])
        self.out_lin = nn.Linear(c['dim'], c['dim'])
        self.dropout = nn.Dropout(c['attention_dropout'])

    def forward(self, x, keep_mask):
        bs, length, _ = x.shape
        dph = self.dim // self.n_heads

        def heads(t):
            return t.view(bs, length, self.n_heads, dph).transpose(1, 2)

        q = heads(self.q_lin(x)) / math.sqrt(dph)
        k = heads(self.k_lin(x))
        v = heads(self.v_lin(x))
        scores = q @ k.transpose(2, 3)
        scores = scores.masked_fill(~keep_mask, float('-inf'))
        weights = self.dropout(F.softmax(scores, dim=-1))
        context = (weights @ v).transpose(1, 2).reshape(bs, length, self.dim)
        return self.out_lin(context)


class FFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c['dim'], c['hidden_dim'])
        self.lin2 = nn.Linear(c['hidden_dim'], c['dim'])
        self.dropout = nn.Dropout(c['dropout'])

    def forward(self, x):
        return self.dropout(self.lin2(F.gelu(self.lin1(x))))


class TransformerBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = MultiHeadSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c['dim'], eps=1e-12)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c['dim'], eps=1e-12)

    def forward(self, x, keep_mask):
        sa = self.sa_layer_norm(self.attention(x, keep_mask) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class DistilBert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c['n_layers'])])

    def forward(self, input_ids, attention_mask):
        keep = attention_mask.bool().view(attention_mask.size(0), 1, 1, attention_mask.size(1))
        h = self.embeddings(input_ids)
        for block in self.layer:
            h = block(h, keep)
        return h


class DistilBertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.distilbert = DistilBert(c)
        self.pre_classifier = nn.Linear(c['dim'], c['dim'])
        self.classifier = nn.Linear(c['dim'], c['num_labels'])
        self.dropout = nn.Dropout(c['seq_classif_dropout'])
        self.apply(lambda m: init_weights(m, c))

    def forward(self, input_ids, attention_mask, labels=None):
        hidden = self.distilbert(input_ids, attention_mask)
        pooled = self.dropout(F.relu(self.pre_classifier(hidden[:, 0])))
        logits = self.classifier(pooled)
        return logits, (F.cross_entropy(logits, labels) if labels is not None else None)


def init_weights(m, c):
    """transformers' _init_weights."""
    if isinstance(m, (nn.Linear, nn.Embedding)):
        m.weight.data.normal_(0.0, c['initializer_range'])
    if isinstance(m, nn.Linear) and m.bias is not None:
        m.bias.data.zero_()
    if isinstance(m, nn.Embedding) and m.padding_idx is not None:
        m.weight.data[m.padding_idx].zero_()
    if isinstance(m, nn.LayerNorm):
        m.weight.data.fill_(1.0)
        m.bias.data.zero_()


class LinearWithLoRA(nn.Module):
    """Raschka's from-scratch LoRA: y = linear(x) + alpha * (x @ A @ B), A [in, r] ~ randn/sqrt(r), B [r, out] = 0."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        self.linear = linear
        self.alpha = alpha
        dev, dt = linear.weight.device, linear.weight.dtype
        self.A = nn.Parameter(torch.randn(linear.in_features, rank, device=dev, dtype=dt) / math.sqrt(rank))
        self.B = nn.Parameter(torch.zeros(rank, linear.out_features, device=dev, dtype=dt))

    def forward(self, x):
        return self.linear(x) + self.alpha * (x @ self.A @ self.B)

    def merge(self):
        with torch.no_grad():
            self.linear.weight += self.alpha * (self.A @ self.B).t()
        return self.linear


def add_lora(model, rank, alpha, targets=('q_lin', 'v_lin')):
    for p in model.parameters():
        p.requires_grad_(False)
    for block in model.distilbert.layer:
        for name in targets:
            setattr(block.attention, name, LinearWithLoRA(getattr(block.attention, name), rank, alpha))
    return model


def merge_lora(model):
    for block in model.distilbert.layer:
        for name in ('q_lin', 'k_lin', 'v_lin', 'out_lin'):
            m = getattr(block.attention, name)
            if isinstance(m, LinearWithLoRA):
                setattr(block.attention, name, m.merge())
    return model


# ---------------------------------------------------------------------------------------------------- Hugging Face
def hf_available():
    try:
        import transformers  # noqa: F401
        import peft  # noqa: F401
        return True
    except Exception:
        return False


def hf_model(c, lora, rank=8, alpha=16):
    from transformers import DistilBertConfig, DistilBertForSequenceClassification as HFModel
    cfg = DistilBertConfig(vocab_size=c['vocab_size'], max_position_embeddings=c['max_position_embeddings'],
                           n_layers=c['n_layers'], n_heads=c['n_heads'], dim=c['dim'], hidden_dim=c['hidden_dim'],
                           num_labels=c['num_labels'])
    model = HFModel(cfg)
    if lora:
        from peft import LoraConfig, get_peft_model
        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=['q_lin', 'v_lin'], lora_dropout=0.0))
    return model


def hf_loss(model, ids, mask, labels):
    return model(input_ids=ids, attention_mask=mask, labels=labels).loss


def hf_logits(model, ids, mask):
    return model(input_ids=ids, attention_mask=mask).logits


# ---------------------------------------------------------------------------------------------------- timing
class Ctx:
    def __init__(self, args):
        self.device = torch.device(args.device)
        self.cuda = self.device.type == 'cuda'
        # amp: float32 model, forward under torch.autocast(bfloat16), as mixed-precision training runs
        self.dtype = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'amp': torch.float32}[args.dtype]
        self.amp = args.dtype == 'amp'
        self.quick = args.quick
        self.config = TINY_CONFIG if args.tiny else BASE_CONFIG

    def autocast(self, fn):
        if not self.amp:
            return fn()
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return fn()

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def time(self, fn, reps, warmup):
        """Wall-clock and CPU seconds (this process, all threads) of fn() over reps runs after warmup runs."""
        for _ in range(warmup):
            fn()
        samples, cpu = [], []
        for _ in range(reps):
            self.sync()
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            self.sync()
            samples.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return Timing(samples, cpu)

    def reps(self, full, quick):
        return quick if self.quick else full

    def batch(self, batch, seq_len, seed=0):
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(1, self.config['vocab_size'], (batch, seq_len), generator=g)
        mask = torch.ones(batch, seq_len, dtype=torch.long)
        labels = torch.randint(0, self.config['num_labels'], (batch,), generator=g)
        return ids.to(self.device), mask.to(self.device), labels.to(self.device)

    def model(self, kind='plain', lora=False, seed=0):
        torch.manual_seed(seed)
        m = hf_model(self.config, lora) if kind == 'hf' else DistilBertForSequenceClassification(self.config)
        if lora and kind != 'hf':
            add_lora(m, 8, 16)
        return m.to(device=self.device, dtype=self.dtype)


class Timing:
    def __init__(self, samples, cpu_samples):
        self.samples, self.cpu_samples = samples, cpu_samples
        self.seconds, self.cpu_seconds = statistics.median(samples), statistics.median(cpu_samples)


def metric(name, unit, t, scale, better='lower', **extra):
    """scale turns seconds into the unit (1e3 for ms; for a rate, the count per call)."""
    if better == 'higher':
        value = lambda s: scale / s  # noqa: E731
    else:
        value = lambda s: s * scale  # noqa: E731
    return dict(name=name, unit=unit, median=value(t.seconds), samples=[value(s) for s in t.samples], better=better,
                cpu_median=value(t.cpu_seconds), cpu_samples=[value(s) for s in t.cpu_samples], **extra)


# ---------------------------------------------------------------------------------------------------- workloads
def op_overhead(ctx, sizes=(8, 64), chain=1000):
    """Chains of `chain` dependent small ops; reports microseconds per op (and ops/s)."""
    reps, warmup = ctx.reps(15, 3), ctx.reps(3, 1)
    # "mul by a number" multiplies by a Python float, as the TypeScript side does by a JavaScript number
    fns = {'add': torch.add, 'mul': torch.mul, 'matmul': torch.matmul, 'mul by a number': lambda x, s: x * s}
    cases = []
    for n in sizes:
        g = torch.Generator().manual_seed(n)
        a = torch.randn(n, n, generator=g).to(ctx.device)
        operands = {
            'add': torch.randn(n, n, generator=g).mul(0.01).to(ctx.device),
            # near 1 so that a chain of products stays clear of denormals and infinities
            'mul': torch.rand(n, n, generator=g).mul(0.002).add(0.999).to(ctx.device),
            'matmul': torch.eye(n).to(ctx.device),
            'mul by a number': 1.0001,
        }
        cases.append((n, a, operands))

    def chain_of(a, f, b):
        def run():
            x = a
            for _ in range(chain):
                x = f(x, b)
            return x
        return run

    # every chain once before any is timed, as the TypeScript side does for its JIT
    for n, a, operands in cases:
        for op, b in operands.items():
            for _ in range(warmup):
                chain_of(a, fns[op], b)()
    out = []
    for n, a, operands in cases:
        for op, b in operands.items():
            t = ctx.time(chain_of(a, fns[op], b), reps, warmup)
            out.append(metric(f'{op} {n}x{n}', 'us/op', t, 1e6 / chain, ops_per_s=chain / t.seconds))
    return out


def inference(ctx, batch, seq_len, kind='plain', rate=False):
    model = ctx.model(kind).eval()
    ids, mask, _ = ctx.batch(batch, seq_len)
    plain_forward = (lambda: hf_logits(model, ids, mask)) if kind == 'hf' else (lambda: model(ids, mask)[0])
    forward = lambda: ctx.autocast(plain_forward)
    reps, warmup = (ctx.reps(3, 2), 1) if batch * seq_len >= 1024 else (ctx.reps(30, 5), ctx.reps(5, 2))
    if ctx.cuda:
        reps, warmup = ctx.reps(30, 5), ctx.reps(5, 2)
    with torch.no_grad():
        t = ctx.time(forward, reps, warmup)
    name = f'{"HF " if kind == "hf" else ""}inference {batch}x{seq_len}'
    if rate:
        return [metric(name, 'seq/s', t, batch, 'higher', ms=t.seconds * 1e3)]
    return [metric(name, 'ms', t, 1e3)]


def train_step(ctx, batch, seq_len, lora=True, kind='plain', name=None):
    model = ctx.model(kind, lora=lora).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids, mask, labels = ctx.batch(batch, seq_len)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = ctx.autocast(lambda: hf_loss(model, ids, mask, labels) if kind == 'hf' else model(ids, mask, labels)[1])
        loss.backward()
        opt.step()

    big = batch * seq_len >= 2048
    reps, warmup = (ctx.reps(3, 1), 1) if big else (ctx.reps(5, 2), ctx.reps(2, 1))
    if ctx.cuda:
        reps, warmup = ctx.reps(20, 3), 3
    t = ctx.time(step, reps, warmup)
    label = name or f'{"HF+peft " if kind == "hf" else ""}{"LoRA" if lora else "full"} train step {batch}x{seq_len}'
    return [metric(label, 'ms', t, 1e3, tokens_per_s=batch * seq_len / t.seconds,
                   trainable=sum(p.numel() for p in params))]


def merged_inference(ctx, batch, seq_len):
    """One model timed as the base model, with LoRA on q_lin and v_lin (unmerged), and merged: merged must cost
    what the base model costs."""
    ids, mask, _ = ctx.batch(batch, seq_len)
    reps = ctx.reps(30, 5) if ctx.cuda else ctx.reps(3, 2)
    out = []
    model = ctx.model().eval()
    with torch.no_grad():
        t = ctx.time(lambda: ctx.autocast(lambda: model(ids, mask)[0]), reps, 1)
        out.append(metric(f'base inference {batch}x{seq_len}', 'ms', t, 1e3))
        add_lora(model, 8, 16)
        for block in model.distilbert.layer:  # a trained adapter: B is not zero
            for name in ('q_lin', 'v_lin'):
                getattr(block.attention, name).B.normal_(0, 0.02)
        t = ctx.time(lambda: ctx.autocast(lambda: model(ids, mask)[0]), reps, 1)
        out.append(metric(f'LoRA unmerged inference {batch}x{seq_len}', 'ms', t, 1e3))
        merge_lora(model)
        t = ctx.time(lambda: ctx.autocast(lambda: model(ids, mask)[0]), reps, 1)
        out.append(metric(f'LoRA merged inference {batch}x{seq_len}', 'ms', t, 1e3))
    return out


def workloads(ctx):
    tiny = ctx.config is TINY_CONFIG
    s = (lambda n: min(n, 16)) if tiny else (lambda n: n)
    w = {
        'op-overhead': lambda: op_overhead(ctx, chain=100 if tiny else 1000),
        'infer-b1': lambda: inference(ctx, 1, s(32)),
        'infer-b32': lambda: inference(ctx, 2 if tiny else 32, s(128), rate=True),
        'train-lora': lambda: train_step(ctx, 2 if tiny else 8, s(128), lora=True),
        'train-full': lambda: train_step(ctx, 2 if tiny else 8, s(128), lora=False),
        'merged': lambda: merged_inference(ctx, 2 if tiny else 8, s(128)),
    }
    for n in (64, 128, 256, 512):
        w[f'scale-{n}'] = (lambda n=n: train_step(ctx, 2 if tiny else 8, s(n), lora=True, name=f'LoRA train step 8x{n}'))
    return w


def hf_workloads(ctx):
    """The same measurements on transformers + peft (only where they are installed)."""
    return {
        'infer-b1': lambda: inference(ctx, 1, 32, kind='hf'),
        'infer-b32': lambda: inference(ctx, 32, 128, kind='hf', rate=True),
        'train-lora': lambda: train_step(ctx, 8, 128, lora=True, kind='hf'),
        'train-full': lambda: train_step(ctx, 8, 128, lora=False, kind='hf'),
    }


# ---------------------------------------------------------------------------------------------------- memory and main
def openblas_core():
    """The OpenBLAS kernel set torch uses here (e.g. 'Haswell'), or None."""
    try:
        import ctypes
        lib = ctypes.CDLL('libopenblas.so.0')
        lib.gotoblas_corename.restype = ctypes.c_char_p
        return lib.gotoblas_corename().decode()
    except Exception:
        return None


def peak_rss_bytes():
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--workload', required=True)
    p.add_argument('--json', action='store_true')
    p.add_argument('--quick', action='store_true')
    p.add_argument('--tiny', action='store_true', help='tiny model and sizes (smoke test)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--dtype', default='fp32', choices=['fp32', 'bf16', 'amp'])
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--hf', action='store_true', help='time transformers + peft instead of the plain module')
    p.add_argument('--list', action='store_true')
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    ctx = Ctx(args)
    table = hf_workloads(ctx) if args.hf else workloads(ctx)
    if args.list:
        print(json.dumps(sorted(table)))
        return
    if args.hf and not hf_available():
        result = dict(workload=args.workload, skipped='transformers/peft not installed')
        print(json.dumps(result))
        return
    if args.workload not in table:
        result = dict(workload=args.workload, skipped=f'no such workload on this side ({", ".join(sorted(table))})')
        print(json.dumps(result))
        return
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    metrics = table[args.workload]()
    result = dict(
        workload=args.workload, side='hf' if args.hf else 'pytorch', device=str(ctx.device), dtype=args.dtype,
        threads=torch.get_num_threads(), metrics=metrics, wall_s=time.perf_counter() - t0,
        peak_rss_bytes=peak_rss_bytes(),
        peak_device_bytes=torch.cuda.max_memory_allocated() if ctx.cuda else None,
        versions=dict(torch=torch.__version__, python=platform.python_version(), hf=hf_available(), blas_core=openblas_core()),
    )
    if args.json:
        print(json.dumps(result))
    else:
        for m in metrics:
            print(f"{m['name']:<40} {m['median']:>12.3f} {m['unit']}  (cpu {m['cpu_median']:.3f})")
        print(f"peak RSS {result['peak_rss_bytes'] / 2**20:.0f} MiB, threads {result['threads']}")


if __name__ == '__main__':
    sys.exit(main())
