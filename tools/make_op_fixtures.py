#!/usr/bin/env python3
"""Writes test/fixtures/ops.json: PyTorch's own numbers for the native-core test suite (test/ops.test.ts,
test/tensor-api.test.ts).

Run with the PyTorch whose libtorch the addon links (1.x writes ops.json, 2.x ops.torch2.json):

    .venv/bin/python tools/make_op_fixtures.py     # and /usr/bin/python3 (Debian 1.13) for ops.json

Every input comes from one seeded generator, so the file is reproducible. Each op case holds

    name, op, args                the TypeScript side maps `op` + `args` onto the torch-lora API
    inputs                        [{ref, requiresGrad}]: ref indexes `tensors` ({values, shape, dtype}), where inputs
                                  shared by several cases are stored once
    outputs                       [{values, shape, dtype}]   (one entry per returned tensor)
    weights, grads                for differentiable cases: the fixed random weights w_i of
                                  loss = sum_i sum(output_i * w_i) and the gradient of that loss
                                  w.r.t. each input that requires grad (null where PyTorch leaves .grad None)

Floats are written as numbers (float32 with 9 significant digits, which round-trips exactly through
Math.fround; other float dtypes exactly), non-finite values as the strings "nan", "inf", "-inf". The file also
holds PyTorch reprs (for Tensor.toString; the two big float ones as base64 bytes), the numbers that
torch.manual_seed + randn/rand/randint produce, dtype conversions, factory results and a few autograd cases.
Keep it under ~300 KB: small shapes, and the gradient weights are multiples of 1/4.
"""
import base64
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

# PyTorch changed some results between 1.13 and 2.x (bf16 autocast rounding, RNG streams, messages): each major
# version writes its own file, and the tests read the one for the libtorch the addon links (test/helpers/fixture-file.ts).
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures',
                   'ops.json' if torch.__version__.startswith('1.') else 'ops.torch2.json')
SEED = 20240611
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(SEED)


# ------------------------------------------------------------------------------------------------ helpers
def randn(*shape, dtype=torch.float32):
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float64).to(dtype)


def rand(*shape, dtype=torch.float32, low=0.0, high=1.0):
    return (torch.rand(tuple(shape), generator=gen, dtype=torch.float64) * (high - low) + low).to(dtype)


def randint(low, high, *shape, dtype=torch.int64):
    return torch.randint(low, high, shape, generator=gen).to(dtype)


def dtype_name(d):
    return str(d).replace('torch.', '')


def enc_float(v, dtype):
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    if dtype != torch.float32:
        return v  # float64, and float16/bfloat16 values, whose shortest repr is exact
    return float('%.9g' % v)  # 9 significant digits round-trip every float32


def enc_values(t):
    t = t.detach()
    flat = t.reshape(-1)
    if t.dtype == torch.bool:
        return [bool(v) for v in flat.tolist()]
    if t.dtype.is_floating_point:
        return [enc_float(v, t.dtype) for v in flat.double().tolist()]
    return [int(v) for v in flat.tolist()]


def enc(t, requires_grad=None):
    out = {'shape': list(t.shape), 'dtype': dtype_name(t.dtype), 'values': enc_values(t)}
    if requires_grad is not None:
        out['requiresGrad'] = requires_grad
    return out


class NoGrad:
    """Marks an input that must not require grad (targets, masks, class weights)."""

    def __init__(self, t):
        self.t = t


CASES = []
TENSORS = []  # case inputs, stored once and referenced by index (many cases share an input)
_interned = {}


def intern(t):
    e = enc(t)
    key = json.dumps(e)
    if key not in _interned:
        _interned[key] = len(TENSORS)
        TENSORS.append(e)
    return _interned[key]


def case(name, op, inputs, fn, args=None, grad=True):
    leaves, flags = [], []
    for x in inputs:
        no_grad = isinstance(x, NoGrad)
        t = (x.t if no_grad else x).detach().clone()
        rg = grad and not no_grad and t.dtype.is_floating_point
        if rg:
            t.requires_grad_(True)
        leaves.append(t)
        flags.append(rg)
    result = fn(*leaves)
    outs = list(result) if isinstance(result, (tuple, list)) else [result]
    entry = {
        'name': name,
        'op': op,
        'args': args or {},
        'inputs': [{'ref': intern(t), 'requiresGrad': rg} for t, rg in zip(leaves, flags)],
        'outputs': [enc(o) for o in outs],
    }
    if any(flags) and any(o.requires_grad for o in outs):
        weights, loss = [], None
        for o in outs:
            if o.requires_grad and o.dtype.is_floating_point:
                # Random multiples of 1/4 in [-2, 2]: exact in every float dtype and short in JSON.
                w = (randint(-8, 9, *o.shape).double() / 4).to(o.dtype)
                weights.append(enc(w))
                term = (o * w).sum()
                loss = term if loss is None else loss + term
            else:
                weights.append(None)
        loss.backward()
        entry['weights'] = weights
        entry['grads'] = [(enc(t.grad) if t.grad is not None else None) if rg else None for t, rg in zip(leaves, flags)]
    CASES.append(entry)


# ------------------------------------------------------------------------------------------------ inputs
A = randn(3, 4)
A2 = randn(3, 4)
B4 = randn(4)
B31 = randn(3, 1)
P = rand(3, 4, low=0.5, high=2.0)  # positive: log, sqrt, pow bases, divisors
E = rand(4, low=0.5, high=1.5)  # positive exponents
D = randn(3, 4, dtype=torch.float64)
D2 = randn(3, 4, dtype=torch.float64)
I1 = randint(-5, 6, 3, 4)
I2 = randint(-5, 6, 3, 4)
X = randn(2, 3, 4)

# ------------------------------------------------------------------------------------------------ arithmetic
case('add/same-shape', 'add', [A, A2], lambda a, b: torch.add(a, b))
case('add/broadcast-row', 'add', [A, B4], lambda a, b: a + b)
case('add/broadcast-outer', 'add', [B31, B4], lambda a, b: a + b)
case('add/alpha', 'add', [A, B4], lambda a, b: torch.add(a, b, alpha=2.5), {'alpha': 2.5})
case('add/scalar', 'add', [A], lambda a: a + 2.5, {'scalar': 2.5})
case('add/scalar-alpha', 'add', [A], lambda a: torch.add(a, 2, alpha=1.5), {'scalar': 2, 'alpha': 1.5})
case('add/float64', 'add', [D, D2], lambda a, b: a + b)
case('add/int64', 'add', [I1, I2], lambda a, b: a + b)
case('add/int64-scalar', 'add', [I1], lambda a: a + 3, {'scalar': 3})
case('add/int64+float32-promotes', 'add', [I1, A], lambda a, b: a + b)
case('sub/broadcast', 'sub', [A, B31], lambda a, b: a - b)
case('sub/alpha', 'sub', [A, B4], lambda a, b: torch.sub(a, b, alpha=0.5), {'alpha': 0.5})
case('sub/scalar', 'sub', [A], lambda a: a - 1.25, {'scalar': 1.25})
case('mul/broadcast', 'mul', [A, B4], lambda a, b: a * b)
case('mul/scalar', 'mul', [A], lambda a: a * -3.5, {'scalar': -3.5})
case('mul/int64-int-scalar', 'mul', [I1], lambda a: a * 2, {'scalar': 2})
case('mul/int64-float-scalar', 'mul', [I1], lambda a: a * 0.5, {'scalar': 0.5})
case('mul/float64', 'mul', [D, D2], lambda a, b: a * b)
case('div/broadcast', 'div', [A, P], lambda a, b: a / b)
case('div/scalar', 'div', [A], lambda a: a / 4.0, {'scalar': 4})
case('div/int64-true-division', 'div', [I1], lambda a: torch.div(a, 2), {'scalar': 2})
case('div/int64-by-int64', 'div', [I1, NoGrad(torch.tensor([1, 2, 3, 4]))], lambda a, b: a / b)
case('pow/tensor-exponent', 'pow', [P, E], lambda a, b: torch.pow(a, b))
case('pow/scalar-2', 'pow', [A], lambda a: a ** 2, {'scalar': 2})
case('pow/scalar-0.5', 'pow', [P], lambda a: a ** 0.5, {'scalar': 0.5})
case('pow/scalar-negative', 'pow', [P], lambda a: a ** -1.5, {'scalar': -1.5})
case('pow/int64-int-scalar', 'pow', [I1], lambda a: a ** 2, {'scalar': 2})
case('rsub/scalar', 'rsub', [A], lambda a: 2.0 - a, {'scalar': 2})
case('rsub/fraction', 'rsub', [A], lambda a: 0.75 - a, {'scalar': 0.75})
case('rdiv/scalar', 'rdiv', [P], lambda a: 3.0 / a, {'scalar': 3})
case('maximum', 'maximum', [A, A2], torch.maximum)
case('minimum/broadcast', 'minimum', [A, B4], torch.minimum)

# ------------------------------------------------------------------------------------------------ matmul family
v4, v4b, M45, M34 = randn(4), randn(4), randn(4, 5), randn(3, 4)
T234, T245, T2134, T242 = randn(2, 3, 4), randn(2, 4, 5), randn(2, 1, 3, 4), randn(2, 4, 2)
case('matmul/1d-1d', 'matmul', [v4, v4b], torch.matmul)
case('matmul/2d-1d', 'matmul', [M34, v4], torch.matmul)
case('matmul/1d-2d', 'matmul', [v4, M45], torch.matmul)
case('matmul/2d-2d', 'matmul', [M34, M45], torch.matmul)
case('matmul/3d-3d-batched', 'matmul', [T234, T245], torch.matmul)
case('matmul/3d-2d-broadcast', 'matmul', [T234, M45], torch.matmul)
case('matmul/4d-3d-broadcast', 'matmul', [T2134, T242], torch.matmul)
case('matmul/float64', 'matmul', [D, randn(4, 2, dtype=torch.float64)], torch.matmul)
case('mm', 'mm', [M34, M45], torch.mm)
case('bmm', 'bmm', [T234, T245], torch.bmm)
case('dot', 'dot', [v4, v4b], torch.dot)
case('outer', 'outer', [v4, randn(3)], torch.outer)
case('addmm/beta-alpha', 'addmm', [randn(5), M34, M45], lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0),
     {'beta': 0.5, 'alpha': 2})
case('addmm/default', 'addmm', [randn(3, 5), M34, M45], torch.addmm)
case('linear/bias', 'linear', [T234, randn(5, 4), randn(5)], F.linear)
case('linear/no-bias', 'linear', [M34, randn(5, 4)], F.linear)

# ------------------------------------------------------------------------------------------------ unary and activations
for op in ['exp', 'tanh', 'sigmoid', 'relu', 'silu', 'neg', 'abs', 'square', 'sin', 'cos', 'erf', 'expm1']:
    case(f'{op}', op, [A], getattr(torch, op) if op != 'silu' else F.silu)
for op in ['log', 'sqrt', 'rsqrt', 'reciprocal', 'log1p']:
    case(f'{op}/positive', op, [P], getattr(torch, op))
case('exp/float64', 'exp', [D], torch.exp)
case('tanh/float64', 'tanh', [D], torch.tanh)
for op in ['floor', 'ceil', 'round', 'sign']:
    case(op, op, [A * 3], getattr(torch, op))
case('gelu/none', 'gelu', [A], lambda x: F.gelu(x), {'approximate': 'none'})
case('gelu/tanh', 'gelu', [A], lambda x: F.gelu(x, approximate='tanh'), {'approximate': 'tanh'})
case('gelu/float64', 'gelu', [D], lambda x: F.gelu(x), {'approximate': 'none'})
case('softmax/dim-1', 'softmax', [A], lambda x: F.softmax(x, -1), {'dim': -1})
case('softmax/dim0', 'softmax', [A], lambda x: F.softmax(x, 0), {'dim': 0})
case('softmax/3d-dim1', 'softmax', [X], lambda x: F.softmax(x, 1), {'dim': 1})
case('softmax/float64', 'softmax', [D], lambda x: F.softmax(x, 1), {'dim': 1})
case('softmax/method', 'Tensor.softmax', [A], lambda x: x.softmax(1), {'dim': 1})
case('logSoftmax/dim1', 'logSoftmax', [A], lambda x: F.log_softmax(x, 1), {'dim': 1})
case('logSoftmax/3d-dim0', 'logSoftmax', [X], lambda x: F.log_softmax(x, 0), {'dim': 0})
case('logSoftmax/method', 'Tensor.logSoftmax', [A], lambda x: x.log_softmax(-1), {'dim': -1})

# ------------------------------------------------------------------------------------------------ nn functions
case('layerNorm/weight-bias', 'layerNorm', [X, randn(4), randn(4)],
     lambda x, w, b: F.layer_norm(x, [4], w, b), {'normalizedShape': [4]})
case('layerNorm/no-affine', 'layerNorm', [X], lambda x: F.layer_norm(x, [4]), {'normalizedShape': [4]})
case('layerNorm/2d-shape-eps', 'layerNorm', [X, randn(3, 4), randn(3, 4)],
     lambda x, w, b: F.layer_norm(x, [3, 4], w, b, eps=1e-3), {'normalizedShape': [3, 4], 'eps': 1e-3})
case('layerNorm/float64', 'layerNorm', [D, randn(4, dtype=torch.float64), randn(4, dtype=torch.float64)],
     lambda x, w, b: F.layer_norm(x, [4], w, b), {'normalizedShape': [4]})

EMB_W = randn(6, 3)
EMB_I = torch.tensor([[0, 2, 5, 2], [1, 0, 3, 2]])
case('embedding/plain', 'embedding', [EMB_I, EMB_W], lambda i, w: F.embedding(i, w))
case('embedding/paddingIdx', 'embedding', [EMB_I, EMB_W], lambda i, w: F.embedding(i, w, padding_idx=0), {'paddingIdx': 0})
case('embedding/1d', 'embedding', [torch.tensor([4, 4, 1]), EMB_W], lambda i, w: F.embedding(i, w))

case('dropout/p0-train', 'dropout', [A], lambda x: F.dropout(x, 0.0, True), {'p': 0, 'training': True})
case('dropout/eval', 'dropout', [A], lambda x: F.dropout(x, 0.5, False), {'p': 0.5, 'training': False})

LOGITS = randn(5, 4)
TARGET = torch.tensor([1, 0, 3, 2, 1])
CW = rand(4, low=0.2, high=2.0)
case('crossEntropy/mean', 'crossEntropy', [LOGITS, TARGET], lambda x, t: F.cross_entropy(x, t))
case('crossEntropy/sum', 'crossEntropy', [LOGITS, TARGET], lambda x, t: F.cross_entropy(x, t, reduction='sum'),
     {'reduction': 'sum'})
case('crossEntropy/none', 'crossEntropy', [LOGITS, TARGET], lambda x, t: F.cross_entropy(x, t, reduction='none'),
     {'reduction': 'none'})
case('crossEntropy/ignoreIndex', 'crossEntropy', [LOGITS, TARGET], lambda x, t: F.cross_entropy(x, t, ignore_index=1),
     {'ignoreIndex': 1})
case('crossEntropy/ignoreIndex-default', 'crossEntropy', [LOGITS, torch.tensor([1, -100, 3, -100, 0])],
     lambda x, t: F.cross_entropy(x, t))
case('crossEntropy/labelSmoothing', 'crossEntropy', [LOGITS, TARGET],
     lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), {'labelSmoothing': 0.1})
case('crossEntropy/weight', 'crossEntropy', [LOGITS, TARGET, NoGrad(CW)], lambda x, t, w: F.cross_entropy(x, t, weight=w))
case('crossEntropy/weight-sum', 'crossEntropy', [LOGITS, TARGET, NoGrad(CW)],
     lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction='sum'), {'reduction': 'sum'})
case('crossEntropy/weight-smoothing-ignore', 'crossEntropy', [LOGITS, TARGET, NoGrad(CW)],
     lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2, ignore_index=3),
     {'labelSmoothing': 0.2, 'ignoreIndex': 3})
case('crossEntropy/probabilities', 'crossEntropy', [LOGITS, NoGrad(F.softmax(randn(5, 4), 1))],
     lambda x, t: F.cross_entropy(x, t))
case('crossEntropy/3d-input', 'crossEntropy', [randn(2, 4, 3), torch.tensor([[0, 3, 1], [2, 2, 0]])],
     lambda x, t: F.cross_entropy(x, t))
LOGP = F.log_softmax(randn(5, 4), 1)
case('nllLoss/mean', 'nllLoss', [LOGP, TARGET], lambda x, t: F.nll_loss(x, t))
case('nllLoss/sum', 'nllLoss', [LOGP, TARGET], lambda x, t: F.nll_loss(x, t, reduction='sum'), {'reduction': 'sum'})
case('nllLoss/none', 'nllLoss', [LOGP, TARGET], lambda x, t: F.nll_loss(x, t, reduction='none'), {'reduction': 'none'})
case('nllLoss/weight-ignore', 'nllLoss', [LOGP, TARGET, NoGrad(CW)],
     lambda x, t, w: F.nll_loss(x, t, weight=w, ignore_index=0), {'ignoreIndex': 0})
case('mseLoss/mean', 'mseLoss', [A, A2], F.mse_loss)
case('mseLoss/sum', 'mseLoss', [A, A2], lambda a, b: F.mse_loss(a, b, reduction='sum'), {'reduction': 'sum'})
case('mseLoss/none', 'mseLoss', [A, NoGrad(A2)], lambda a, b: F.mse_loss(a, b, reduction='none'), {'reduction': 'none'})
BCE_T = NoGrad(rand(3, 4))
case('bceWithLogits/mean', 'binaryCrossEntropyWithLogits', [A, BCE_T], F.binary_cross_entropy_with_logits)
case('bceWithLogits/sum', 'binaryCrossEntropyWithLogits', [A, BCE_T],
     lambda a, t: F.binary_cross_entropy_with_logits(a, t, reduction='sum'), {'reduction': 'sum'})
case('bceWithLogits/none', 'binaryCrossEntropyWithLogits', [A, BCE_T],
     lambda a, t: F.binary_cross_entropy_with_logits(a, t, reduction='none'), {'reduction': 'none'})

# ------------------------------------------------------------------------------------------------ reductions
case('sum/all', 'sum', [X], lambda x: x.sum())
case('sum/dim1', 'sum', [X], lambda x: x.sum(1), {'dim': 1})
case('sum/dims-0-2', 'sum', [X], lambda x: x.sum([0, 2]), {'dim': [0, 2]})
case('sum/dim-1-keepdim', 'sum', [X], lambda x: x.sum(-1, keepdim=True), {'dim': -1, 'keepdim': True})
case('sum/int64', 'sum', [I1], lambda x: x.sum(0), {'dim': 0})
case('sum/bool', 'sum', [A > 0], lambda x: x.sum())
case('sum/dtype-float64', 'sum', [A], lambda x: x.sum(1, dtype=torch.float64), {'dim': 1, 'dtype': 'float64'})
case('mean/all', 'mean', [X], lambda x: x.mean())
case('mean/dim0', 'mean', [X], lambda x: x.mean(0), {'dim': 0})
case('mean/dims-keepdim', 'mean', [X], lambda x: x.mean([1, 2], keepdim=True), {'dim': [1, 2], 'keepdim': True})
case('mean/float64', 'mean', [D], lambda x: x.mean(1), {'dim': 1})
case('max/all', 'max', [X], lambda x: x.max())
case('max/dim1', 'max', [X], lambda x: tuple(torch.max(x, 1)), {'dim': 1})
case('max/dim-1-keepdim', 'max', [X], lambda x: tuple(torch.max(x, -1, keepdim=True)), {'dim': -1, 'keepdim': True})
case('max/int64', 'max', [I1], lambda x: x.max())
case('min/all', 'min', [X], lambda x: x.min())
case('min/dim0', 'min', [X], lambda x: tuple(torch.min(x, 0)), {'dim': 0})
case('amax/dims', 'amax', [X], lambda x: x.amax([0, 2]), {'dim': [0, 2]})
case('amin/dim-keepdim', 'amin', [X], lambda x: x.amin(1, keepdim=True), {'dim': 1, 'keepdim': True})
case('argmax/all', 'argmax', [X], lambda x: x.argmax())
case('argmax/dim1', 'argmax', [X], lambda x: x.argmax(1), {'dim': 1})
case('argmax/dim-1-keepdim', 'argmax', [X], lambda x: x.argmax(-1, keepdim=True), {'dim': -1, 'keepdim': True})
case('argmin/all', 'argmin', [X], lambda x: x.argmin())
case('argmin/dim2', 'argmin', [X], lambda x: x.argmin(2), {'dim': 2})
case('var/all', 'var', [X], lambda x: x.var())
case('var/all-biased', 'var', [X], lambda x: x.var(unbiased=False), {'unbiased': False})
case('var/dim1-biased', 'var', [X], lambda x: x.var(1, unbiased=False), {'dim': 1, 'unbiased': False})
case('var/dims-keepdim', 'var', [X], lambda x: x.var([0, 2], keepdim=True), {'dim': [0, 2], 'keepdim': True})
case('std/all', 'std', [X], lambda x: x.std())
case('std/dim-1', 'std', [X], lambda x: x.std(-1), {'dim': -1})
case('std/dim0-biased-keepdim', 'std', [X], lambda x: x.std(0, unbiased=False, keepdim=True),
     {'dim': 0, 'unbiased': False, 'keepdim': True})
case('norm/p2-all', 'norm', [X], lambda x: torch.norm(x), {'p': 2})
case('norm/p1-dim1', 'norm', [X], lambda x: torch.norm(x, 1, 1), {'p': 1, 'dim': 1})
case('norm/p2-dims-keepdim', 'norm', [X], lambda x: torch.norm(x, 2, [1, 2], keepdim=True),
     {'p': 2, 'dim': [1, 2], 'keepdim': True})
case('norm/p3-dim-1', 'norm', [X], lambda x: torch.norm(x, 3, -1), {'p': 3, 'dim': -1})
case('logsumexp/dim1', 'logsumexp', [X], lambda x: torch.logsumexp(x, 1), {'dim': 1})
case('logsumexp/dims-keepdim', 'logsumexp', [X], lambda x: torch.logsumexp(x, [0, 2], keepdim=True),
     {'dim': [0, 2], 'keepdim': True})
case('prod/all', 'prod', [A], lambda x: x.prod())
case('prod/dim1', 'prod', [A], lambda x: x.prod(1), {'dim': 1})
case('cumsum/dim0', 'cumsum', [X], lambda x: x.cumsum(0), {'dim': 0})
case('cumsum/dim-1', 'cumsum', [X], lambda x: x.cumsum(-1), {'dim': -1})
case('cumsum/int64', 'cumsum', [I1], lambda x: x.cumsum(1), {'dim': 1})
BM = randn(3, 4) > 0
case('all/all', 'all', [BM], lambda x: x.all())
case('any/dim1', 'any', [BM], lambda x: x.any(1), {'dim': 1})

# ------------------------------------------------------------------------------------------------ comparisons and logic
C1 = randint(0, 3, 3, 4).float()
C2 = randint(0, 3, 3, 4).float()
C4 = randint(0, 3, 4).float()
for op in ['eq', 'ne', 'lt', 'le', 'gt', 'ge']:
    case(f'{op}/tensor', op, [C1, C2], getattr(torch, op))
    case(f'{op}/broadcast', op, [C1, C4], getattr(torch, op))
    case(f'{op}/scalar', op, [C1], lambda x, op=op: getattr(torch, op)(x, 1.0), {'scalar': 1})
case('eq/int64', 'eq', [randint(0, 3, 3, 4), randint(0, 3, 3, 4)], torch.eq)
case('lt/int64-scalar', 'lt', [I1], lambda x: x < 0, {'scalar': 0})
case('logicalAnd', 'logicalAnd', [C1 > 0, C2 > 0], torch.logical_and)
case('logicalOr', 'logicalOr', [C1 > 0, C2 > 0], torch.logical_or)
case('logicalNot', 'logicalNot', [C1 > 0], torch.logical_not)
COND = randn(3, 4) > 0
case('where/tensors', 'where', [COND, A, A2], torch.where)
case('where/broadcast', 'where', [COND, A, B4], torch.where)
case('where/scalar-other', 'where', [COND, A], lambda c, a: torch.where(c, a, torch.tensor(0.5)), {'other': 0.5})
case('where/scalar-self', 'where', [COND, A], lambda c, b: torch.where(c, torch.tensor(-1.0), b), {'self': -1})
case('where/method', 'Tensor.where', [A, COND, A2], lambda a, c, b: a.where(c, b))
case('maskedFill/same-shape', 'maskedFill', [A, COND], lambda x, m: x.masked_fill(m, -1e9), {'value': -1e9})
case('maskedFill/broadcast', 'maskedFill', [A, torch.tensor([True, False, False, True])],
     lambda x, m: x.masked_fill(m, 0.25), {'value': 0.25})

# ------------------------------------------------------------------------------------------------ shape
case('view/2d', 'view', [X], lambda x: x.view(6, 4), {'shape': [6, 4]})
case('view/infer', 'view', [X], lambda x: x.view(4, -1), {'shape': [4, -1]})
case('view/flat', 'view', [X], lambda x: x.view(-1), {'shape': [-1]})
case('reshape/3d', 'reshape', [X], lambda x: x.reshape(3, 2, 4), {'shape': [3, 2, 4]})
case('reshape/non-contiguous', 'reshapeAfterTranspose', [X], lambda x: x.transpose(0, 1).reshape(3, 8), {'shape': [3, 8]})
case('transpose/0-2', 'transpose', [X], lambda x: x.transpose(0, 2), {'dim0': 0, 'dim1': 2})
case('transpose/negative', 'transpose', [X], lambda x: x.transpose(-1, -2), {'dim0': -1, 'dim1': -2})
case('t', 't', [A], lambda x: x.t())
case('permute', 'permute', [X], lambda x: x.permute(2, 0, 1), {'dims': [2, 0, 1]})
case('contiguous/after-permute', 'permuteContiguous', [X], lambda x: x.permute(1, 2, 0).contiguous(), {'dims': [1, 2, 0]})
S = randn(3, 1, 4, 1)
case('squeeze/all', 'squeeze', [S], lambda x: x.squeeze())
case('squeeze/dim1', 'squeeze', [S], lambda x: x.squeeze(1), {'dim': 1})
case('squeeze/non-unit-dim', 'squeeze', [S], lambda x: x.squeeze(0), {'dim': 0})
case('unsqueeze/0', 'unsqueeze', [A], lambda x: x.unsqueeze(0), {'dim': 0})
case('unsqueeze/-1', 'unsqueeze', [A], lambda x: x.unsqueeze(-1), {'dim': -1})
case('expand/2d', 'expand', [B31], lambda x: x.expand(3, 4), {'shape': [3, 4]})
case('expand/new-dim-minus1', 'expand', [B31], lambda x: x.expand(2, -1, 5), {'shape': [2, -1, 5]})
case('flatten/all', 'flatten', [X], lambda x: x.flatten())
case('flatten/from1', 'flatten', [X], lambda x: x.flatten(1), {'start': 1})
case('flatten/0-1', 'flatten', [X], lambda x: x.flatten(0, 1), {'start': 0, 'end': 1})
case('flip', 'flip', [X], lambda x: x.flip([0, 2]), {'dims': [0, 2]})
case('repeat', 'repeat', [B31], lambda x: x.repeat(2, 3), {'sizes': [2, 3]})

# ------------------------------------------------------------------------------------------------ indexing
case('narrow/dim1', 'narrow', [X], lambda x: x.narrow(1, 1, 2), {'dim': 1, 'start': 1, 'length': 2})
case('narrow/negative-dim', 'narrow', [X], lambda x: x.narrow(-1, 0, 3), {'dim': -1, 'start': 0, 'length': 3})
case('select/dim0', 'select', [X], lambda x: x.select(0, 1), {'dim': 0, 'index': 1})
case('select/negative', 'select', [X], lambda x: x.select(-1, -2), {'dim': -1, 'index': -2})
case('slice/step2', 'slice', [X], lambda x: x[:, :, ::2], {'dim': 2, 'start': None, 'end': None, 'step': 2})
case('slice/start-end-step', 'slice', [X], lambda x: x[:, :, 1:4:2], {'dim': 2, 'start': 1, 'end': 4, 'step': 2})
case('slice/negative-end', 'slice', [X], lambda x: x[:, :-1], {'dim': 1, 'start': None, 'end': -1})
IDX = torch.tensor([2, 0, 2])
case('indexSelect/dim1-repeats', 'indexSelect', [A, IDX], lambda x, i: x.index_select(1, i), {'dim': 1})
case('indexSelect/dim0', 'indexSelect', [A, torch.tensor([1])], lambda x, i: x.index_select(0, i), {'dim': 0})
case('gather/dim1', 'gather', [A, torch.tensor([[0, 3], [1, 1], [2, 0]])], lambda x, i: x.gather(1, i), {'dim': 1})
case('gather/dim0', 'gather', [A, torch.tensor([[2, 1, 0, 0]])], lambda x, i: x.gather(0, i), {'dim': 0})
case('index/first-dim', 'index', [X, torch.tensor([1, 0, 1])], lambda x, i: torch.ops.aten.index.Tensor(x, [i]),
     {'pattern': [1]})
case('index/second-dim', 'index', [X, torch.tensor([2, 0])], lambda x, i: torch.ops.aten.index.Tensor(x, [None, i]),
     {'pattern': [None, 1]})
case('index/pairs', 'index', [X, torch.tensor([0, 1, 1]), torch.tensor([2, 0, 2])],
     lambda x, i, j: torch.ops.aten.index.Tensor(x, [i, j]), {'pattern': [1, 2]})
case('index/bool-mask', 'index', [A, COND], lambda x, m: x[m], {'pattern': [1]})
case('maskedSelect', 'maskedSelect', [A, COND], torch.masked_select)
case('scatterAdd', 'scatterAdd', [A, torch.tensor([[0, 1], [2, 2], [3, 0]]), randn(3, 2)],
     lambda x, i, s: x.scatter_add(1, i, s), {'dim': 1})
case('oneHot', 'oneHot', [torch.tensor([0, 2, 1, 2])], lambda i: F.one_hot(i, 4), {'numClasses': 4})

# ------------------------------------------------------------------------------------------------ joining and splitting
J1, J2, J3 = randn(2, 4), randn(1, 4), randn(3, 4)
case('cat/dim0', 'cat', [J1, J2, J3], lambda *t: torch.cat(t, 0), {'dim': 0})
case('cat/dim1', 'cat', [A, randn(3, 2)], lambda *t: torch.cat(t, 1), {'dim': 1})
case('cat/dim-1', 'cat', [X, randn(2, 3, 1)], lambda *t: torch.cat(t, -1), {'dim': -1})
case('stack/dim0', 'stack', [A, A2], lambda *t: torch.stack(t, 0), {'dim': 0})
case('stack/dim1', 'stack', [A, A2, P], lambda *t: torch.stack(t, 1), {'dim': 1})
case('stack/dim-1', 'stack', [B4, v4], lambda *t: torch.stack(t, -1), {'dim': -1})
SP = randn(5, 3)
case('split/size', 'split', [SP], lambda x: x.split(2), {'size': 2, 'dim': 0})
case('split/sizes', 'split', [SP], lambda x: x.split([1, 3, 1]), {'size': [1, 3, 1], 'dim': 0})
case('split/dim1', 'split', [SP], lambda x: x.split(2, 1), {'size': 2, 'dim': 1})
case('chunk/uneven', 'chunk', [SP], lambda x: x.chunk(3), {'chunks': 3, 'dim': 0})
case('chunk/dim1', 'chunk', [SP], lambda x: x.chunk(2, 1), {'chunks': 2, 'dim': 1})
case('unbind/dim1', 'unbind', [SP], lambda x: x.unbind(1), {'dim': 1})

# ------------------------------------------------------------------------------------------------ clamp, sorting, triangles
case('clamp/both', 'clamp', [A], lambda x: x.clamp(-0.5, 0.5), {'min': -0.5, 'max': 0.5})
case('clamp/min', 'clamp', [A], lambda x: x.clamp(min=0.1), {'min': 0.1})
case('clamp/max', 'clamp', [A], lambda x: x.clamp(max=-0.2), {'max': -0.2})
case('clamp/int64', 'clamp', [I1], lambda x: x.clamp(-2, 2), {'min': -2, 'max': 2})
case('topk/largest', 'topk', [X], lambda x: tuple(x.topk(2, -1)), {'k': 2, 'dim': -1})
case('topk/smallest-dim0', 'topk', [A], lambda x: tuple(x.topk(2, 0, largest=False)), {'k': 2, 'dim': 0, 'largest': False})
case('sort/ascending', 'sort', [X], lambda x: tuple(x.sort(-1)), {'dim': -1})
case('sort/descending-dim0', 'sort', [A], lambda x: tuple(x.sort(0, descending=True)), {'dim': 0, 'descending': True})
TR = randn(4, 5)
case('tril', 'tril', [TR], torch.tril)
case('tril/-1', 'tril', [TR], lambda x: torch.tril(x, -1), {'diagonal': -1})
case('triu', 'triu', [TR], torch.triu)
case('triu/1', 'triu', [TR], lambda x: torch.triu(x, 1), {'diagonal': 1})
case('tril/batched', 'tril', [randn(2, 3, 3)], torch.tril)


# ------------------------------------------------------------------------------------------------ attention
def attention(q, k, v, mask=None, causal=False):
    """softmax(q kᵀ/√d + mask) v, as torch 2.x's scaled_dot_product_attention defines it (1.13 has no public SDPA)."""
    scale = 1.0 / math.sqrt(q.size(-1))
    scores = torch.matmul(q * scale, k.transpose(-2, -1))
    if causal:
        keep = torch.ones(q.size(-2), k.size(-2), dtype=torch.bool).tril()
        scores = scores.masked_fill(keep.logical_not(), -math.inf)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(mask.logical_not(), -math.inf)
        else:
            scores = scores + mask
    return torch.matmul(torch.softmax(scores, -1), v)


Q, K, V = randn(2, 2, 3, 4), randn(2, 2, 3, 4), randn(2, 2, 3, 4)
K5, V5 = randn(2, 2, 5, 4), randn(2, 2, 5, 4)
BOOL_MASK = torch.tensor([[True, True, False], [True, False, True], [False, True, True]])
PAD_MASK = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]]).view(2, 1, 1, 5)
FLOAT_MASK = randn(3, 3)
FLOAT_PAD = torch.tensor([[0.0, 0.0, -1e9], [0.0, 0.0, 0.0]]).view(2, 1, 1, 3)
for op in ['scaledDotProductAttention', 'attentionMatmulSoftmax']:
    case(f'{op}/no-mask', op, [Q, K, V], attention)
    case(f'{op}/bool-mask', op, [Q, K, V, NoGrad(BOOL_MASK)], attention)
    case(f'{op}/bool-padding-mask-cross', op, [Q, K5, V5, NoGrad(PAD_MASK)], attention)
    case(f'{op}/float-mask', op, [Q, K, V, NoGrad(FLOAT_MASK)], attention)
    case(f'{op}/float-padding-mask', op, [Q, K, V, NoGrad(FLOAT_PAD)], attention)
    case(f'{op}/causal', op, [Q, K, V], lambda q, k, v: attention(q, k, v, causal=True), {'isCausal': True})
    case(f'{op}/causal-and-mask', op, [Q, K, V, NoGrad(FLOAT_MASK)], lambda q, k, v, m: attention(q, k, v, m, causal=True),
         {'isCausal': True})
    case(f'{op}/3d', op, [Q[0], K[0], V[0]], attention)


# ------------------------------------------------------------------------------------------------ in-place (on a clone)
def inplace(fn):
    def run(a, *rest):
        c = a.clone()
        fn(c, *rest)
        return c
    return run


MASK4 = torch.tensor([True, False, True, False])
case('add_/tensor-broadcast', 'add_', [A, B4], inplace(lambda c, b: c.add_(b)))
case('add_/alpha', 'add_', [A, A2], inplace(lambda c, b: c.add_(b, alpha=-0.5)), {'alpha': -0.5})
case('add_/scalar', 'add_', [A], inplace(lambda c: c.add_(1.5)), {'scalar': 1.5})
case('sub_/tensor', 'sub_', [A, A2], inplace(lambda c, b: c.sub_(b)))
case('mul_/tensor', 'mul_', [A, B31], inplace(lambda c, b: c.mul_(b)))
case('mul_/scalar', 'mul_', [A], inplace(lambda c: c.mul_(-2.0)), {'scalar': -2})
case('div_/scalar', 'div_', [A], inplace(lambda c: c.div_(8.0)), {'scalar': 8})
case('div_/tensor', 'div_', [A, P], inplace(lambda c, b: c.div_(b)))
case('pow_', 'pow_', [P], inplace(lambda c: c.pow_(3)), {'scalar': 3})
case('zero_', 'zero_', [A], inplace(lambda c: c.zero_()))
case('copy_/broadcast', 'copy_', [A, B4], inplace(lambda c, s: c.copy_(s)))
case('copy_/int-to-float', 'copy_', [A, I1], inplace(lambda c, s: c.copy_(s)))
case('fill_', 'fill_', [A], inplace(lambda c: c.fill_(0.25)), {'value': 0.25})
case('addcmul_', 'addcmul_', [A, A2, B4], inplace(lambda c, t1, t2: c.addcmul_(t1, t2, value=0.5)), {'value': 0.5})
case('addcdiv_', 'addcdiv_', [A, A2, P], inplace(lambda c, t1, t2: c.addcdiv_(t1, t2, value=-0.3)), {'value': -0.3})
case('addcdiv_/default-value', 'addcdiv_', [A, A2, P], inplace(lambda c, t1, t2: c.addcdiv_(t1, t2)))
case('clamp_', 'clamp_', [A], inplace(lambda c: c.clamp_(-0.3, 0.4)), {'min': -0.3, 'max': 0.4})
case('maskedFill_', 'maskedFill_', [A, MASK4], inplace(lambda c, m: c.masked_fill_(m, 2.0)), {'value': 2})
case('relu_', 'relu_', [A], inplace(lambda c: c.relu_()))
case('neg_', 'neg_', [A], inplace(lambda c: c.neg_()))
case('exp_', 'exp_', [A], inplace(lambda c: c.exp_()))
case('sqrt_', 'sqrt_', [P], inplace(lambda c: c.sqrt_()))

# ------------------------------------------------------------------------------------------------ reprs
REPR_SOURCES = [
    ('int64 vector', torch.tensor([1, -20, 300])),
    ('int64 matrix', torch.tensor([[1, 2, 3], [40, 50, -600]])),
    ('float32 matrix', randn(2, 3)),
    ('float32 integral values', torch.tensor([[1.0, 2.0], [-3.0, 40.0]])),
    ('float32 sci mode (small)', torch.tensor([1e-5, 1.0, 123.0])),
    ('float32 sci mode (large ratio)', torch.tensor([0.5, 2000.0, -3.25])),
    ('float32 sci mode (big integers)', torch.tensor([1e9, 1.0, -2.0])),
    ('float32 half-even ties', torch.tensor([0.03125, 1.03125, -2.40625, 0.5])),
    ('float32 inf and nan', torch.tensor([1.0, math.inf, math.nan, -math.inf])),
    ('float32 zero and nan', torch.tensor([0.0, math.nan])),
    ('float32 fractions with inf', torch.tensor([0.5, -math.inf, 1.25])),
    ('float32 all zeros', torch.zeros(2, 2)),
    ('float32 line wrap', randn(30)),
    ('float32 3d', randn(2, 3, 4)),
    ('float32 requires_grad', torch.tensor([1.5, -2.0], requires_grad=True)),
    ('float64', torch.tensor([0.5, 1.0 / 3.0, -7.0], dtype=torch.float64)),
    ('float64 requires_grad suffix wrap', randn(9, dtype=torch.float64).requires_grad_(True)),
    ('float16', torch.tensor([0.1, -2.5, 1000.0], dtype=torch.float16)),
    ('bfloat16', torch.tensor([0.1, -2.5, 3.0], dtype=torch.bfloat16)),
    ('bool', torch.tensor([True, False, True])),
    ('bool matrix', torch.tensor([[True, True], [False, True]])),
    ('int32', torch.tensor([7, -8, 9], dtype=torch.int32)),
    ('uint8', torch.tensor([0, 255, 17], dtype=torch.uint8)),
    ('int8', torch.tensor([-128, 5, 127], dtype=torch.int8)),
    ('0-dim float', torch.tensor(3.25)),
    ('0-dim float integral', torch.tensor(-2.0)),
    ('0-dim int64', torch.tensor(7)),
    ('0-dim bool', torch.tensor(True)),
    ('0-dim float sci', torch.tensor(1.5e-7)),
    ('empty float32', torch.zeros(0)),
    ('empty int64 2d', torch.zeros(0, 3, dtype=torch.int64)),
    ('empty float64', torch.zeros(0, dtype=torch.float64)),
    ('large summarised int64 (2000)', torch.arange(2000)),
    ('large summarised float32 2d (2000)', randn(40, 50)),
    ('large summarised float32 3d (2000)', randn(10, 10, 20)),
]
def enc_repr(name, t):
    e = enc(t.detach(), t.requires_grad)
    if t.numel() > 1000 and t.dtype == torch.float32:
        # The big float ones as base64 of their little-endian float32 bytes, to keep the file small.
        e['base64'] = base64.b64encode(t.detach().contiguous().numpy().tobytes()).decode('ascii')
        del e['values']
    return dict(name=name, repr=repr(t), **e)


REPRS = [enc_repr(n, t) for n, t in REPR_SOURCES]
# Non-leaf tensors print their grad_fn: the leaf's values, and what the test applies to it (`then`).
_leaf = torch.tensor([[1.5, -2.0], [0.25, 4.0]], requires_grad=True)
for then, fn in [('mulSelf', lambda x: x * x), ('sum', lambda x: x.sum()), ('view', lambda x: x.view(4)),
                 ('logSoftmax', lambda x: torch.log_softmax(x, 1))]:
    REPRS.append(dict(name=f'grad_fn after {then}', repr=repr(fn(_leaf)), then=then, **enc(_leaf.detach(), True)))

# ------------------------------------------------------------------------------------------------ random numbers
torch.manual_seed(1234)
RANDOM = {
    'seed': 1234,
    'sequence': [
        dict(fn='randn', shape=[2, 3], **{'values': enc_values(torch.randn(2, 3))}),
        dict(fn='rand', shape=[5], **{'values': enc_values(torch.rand(5))}),
        dict(fn='randint', shape=[6], low=0, high=10, **{'values': enc_values(torch.randint(0, 10, (6,)))}),
        dict(fn='randn', shape=[20], **{'values': enc_values(torch.randn(20))}),
        dict(fn='randn', shape=[3], dtype='float64', **{'values': enc_values(torch.randn(3, dtype=torch.float64))}),
    ],
}

# ------------------------------------------------------------------------------------------------ dtype conversions
CONV_SOURCE = torch.tensor([0.1, -1.5, 2.7, 3.999, 0.0, 100.25, -0.75], dtype=torch.float64)
CONV_SOURCE_U8 = torch.tensor([0.1, 1.5, 2.7, 3.999, 0.0, 200.25, 255.0], dtype=torch.float64)
DTYPES = {}
for name, d in [('float32', torch.float32), ('float64', torch.float64), ('float16', torch.float16),
                ('bfloat16', torch.bfloat16), ('int64', torch.int64), ('int32', torch.int32), ('int8', torch.int8),
                ('uint8', torch.uint8), ('bool', torch.bool)]:
    src = CONV_SOURCE_U8 if d == torch.uint8 else CONV_SOURCE
    converted = src.to(d)
    DTYPES[name] = {
        'source': enc_values(src),
        'converted': enc(converted),
        'backToFloat64': enc_values(converted.to(torch.float64)),
        'itemSize': converted.element_size(),
        'bytes': list(converted.numpy().tobytes()) if d != torch.bfloat16 else
        list(converted.view(torch.int16).numpy().tobytes()),
    }

# ------------------------------------------------------------------------------------------------ factories
CREATION = [
    {'fn': 'arange', 'args': [5], 'out': enc(torch.arange(5))},
    {'fn': 'arange', 'args': [2, 11, 3], 'out': enc(torch.arange(2, 11, 3))},
    {'fn': 'arange', 'args': [0, 1, 0.1], 'out': enc(torch.arange(0, 1, 0.1))},
    {'fn': 'arange', 'args': [-1, 1, 0.5], 'out': enc(torch.arange(-1, 1, 0.5))},
    {'fn': 'arange', 'args': [3, 0, -1], 'out': enc(torch.arange(3, 0, -1))},
    {'fn': 'arange', 'args': [0, 4, 1], 'opts': {'dtype': 'float64'}, 'out': enc(torch.arange(0, 4, 1, dtype=torch.float64))},
    {'fn': 'linspace', 'args': [-1, 1, 7], 'out': enc(torch.linspace(-1, 1, 7))},
    {'fn': 'linspace', 'args': [0, 1, 5], 'opts': {'dtype': 'float64'}, 'out': enc(torch.linspace(0, 1, 5, dtype=torch.float64))},
    {'fn': 'eye', 'args': [3], 'out': enc(torch.eye(3))},
    {'fn': 'full', 'args': [[2, 3], 2.5], 'out': enc(torch.full((2, 3), 2.5))},
    {'fn': 'full', 'args': [[2], 7], 'opts': {'dtype': 'int32'}, 'out': enc(torch.full((2,), 7, dtype=torch.int32))},
    {'fn': 'full', 'args': [[2], True], 'out': enc(torch.full((2,), True))},
    {'fn': 'zeros', 'args': [[2, 3]], 'out': enc(torch.zeros(2, 3))},
    {'fn': 'ones', 'args': [[3]], 'opts': {'dtype': 'int64'}, 'out': enc(torch.ones(3, dtype=torch.int64))},
    {'fn': 'zeros', 'args': [[0, 3]], 'out': enc(torch.zeros(0, 3))},
]
TENSOR_FROM_NUMBERS = [
    # torch.tensor(values, dtype=...) straight from Python floats/ints.
    {'values': [0.1, -2.5, 1e-3], 'dtype': d, 'out': enc(torch.tensor([0.1, -2.5, 1e-3], dtype=getattr(torch, d)))}
    for d in ['float32', 'float64', 'float16', 'bfloat16']
] + [
    # Fractions truncate toward zero; 16777217 (2^24 + 1) is not a float32, so it must not pass through one.
    {'values': [1.7, -1.7, 16777217, 2.0], 'dtype': 'int64',
     'out': enc(torch.tensor([1.7, -1.7, 16777217, 2.0], dtype=torch.float64).to(torch.int64))},
    {'values': [16777217, -3], 'dtype': 'int64', 'out': enc(torch.tensor([16777217, -3], dtype=torch.int64))},
    {'values': [0, 2.5, -1], 'dtype': 'bool', 'out': enc(torch.tensor([0, 2.5, -1], dtype=torch.bool))},
]


# ------------------------------------------------------------------------------------------------ autograd
def autograd_cases():
    out = []
    x = randn(5)
    xs = x.clone().requires_grad_(True)
    (xs ** 3).sum().backward()
    out.append({'name': 'cube', 'x': enc(x), 'grad': enc(xs.grad)})

    g = randn(5)
    xs = x.clone().requires_grad_(True)
    (xs.tanh() * 2).backward(g)
    out.append({'name': 'gradient-arg', 'x': enc(x), 'gradient': enc(g), 'grad': enc(xs.grad)})

    xs = x.clone().requires_grad_(True)
    loss = (xs * xs).sum()
    loss.backward(retain_graph=True)
    first = xs.grad.clone()
    loss.backward()
    out.append({'name': 'accumulate', 'x': enc(x), 'first': enc(first), 'grad': enc(xs.grad)})

    W = randn(3, 5)
    Ws, xs = W.clone().requires_grad_(True), x.clone().requires_grad_(True)
    y = (Ws @ xs).relu().sum()
    y.backward()
    out.append({'name': 'matmul-relu', 'x': enc(x), 'W': enc(W), 'y': enc(y.detach()), 'gradW': enc(Ws.grad), 'grad': enc(xs.grad)})
    return out


AUTOGRAD = autograd_cases()


# ------------------------------------------------------------------------------------------------ autocast (CPU)
# Last, so that the random inputs above stay what they were.
def under_autocast(fn):
    def run(*xs):
        with torch.autocast('cpu', dtype=torch.bfloat16):
            return fn(*xs)
    return run


AC_A, AC_B, AC_A2 = randn(3, 4), randn(4, 5), randn(3, 4)
case('autocast/mm-in-bfloat16', 'autocast:mm', [AC_A, AC_B], under_autocast(torch.mm))
case('autocast/matmul-in-bfloat16', 'autocast:matmul', [AC_A, AC_B], under_autocast(torch.matmul))
case('autocast/linear-in-bfloat16', 'autocast:linear', [randn(2, 3, 4), randn(5, 4), randn(5)], under_autocast(F.linear))
case('autocast/add-stays-float32', 'autocast:add', [AC_A, AC_A2], under_autocast(torch.add))
case('autocast/mul-scalar-stays-float32', 'autocast:mul', [AC_A], under_autocast(lambda a: a * 0.1), {'scalar': 0.1})

# ------------------------------------------------------------------------------------------------ the rest of the op tables
# Every op of native/op_tables.h has a case (test/native-binding.test.ts checks it); these had none. After
# autocast, so that every input and weight above stays what it was.
NAN_INF = NoGrad(torch.tensor([1.0, float('nan'), float('inf'), -float('inf'), -2.0]))
case('isnan', 'isnan', [NAN_INF], torch.isnan)
case('isinf', 'isinf', [NAN_INF], torch.isinf)
case('clone', 'clone', [A], lambda a: a.clone())
case('detach', 'detach', [A], lambda a: a.detach())
case('contiguous/of-transpose', 'contiguous', [A], lambda a: a.t().contiguous())
case('nonzero', 'nonzero', [I1], torch.nonzero)
case('remainder/tensor', 'remainder', [A, P], torch.remainder)
case('remainder/scalar', 'remainder', [A], lambda a: torch.remainder(a, 1.5), {'scalar': 1.5})
case('remainder/int64', 'remainder', [I1, I2], torch.remainder)
case('equal/same', 'equal', [A, A], lambda a, b: torch.tensor(torch.equal(a, b)))
case('equal/different', 'equal', [A, A2], lambda a, b: torch.tensor(torch.equal(a, b)))
case('expandAs', 'expandAs', [B31, A], lambda a, b: a.expand_as(b))
case('viewAs', 'viewAs', [A, NoGrad(torch.zeros(2, 6))], lambda a, b: a.view_as(b))
case('detach_', 'detach_', [A], lambda a: a.clone().detach_(), grad=False)

doc = {
    'generator': 'tools/make_op_fixtures.py',
    'torch': torch.__version__,
    'seed': SEED,
    'tensors': TENSORS,
    'cases': CASES,
    'reprs': REPRS,
    'random': RANDOM,
    'dtypes': DTYPES,
    'creation': CREATION,
    'tensorFromNumbers': TENSOR_FROM_NUMBERS,
    'autograd': AUTOGRAD,
}
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump(doc, f, separators=(',', ':'), allow_nan=False)
    f.write('\n')
print(f'wrote {os.path.relpath(OUT)}: {len(CASES)} op cases, {len(REPRS)} reprs, {os.path.getsize(OUT) // 1024} KB',
      file=sys.stderr)
