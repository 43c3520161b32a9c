#!/usr/bin/env python3
"""Writes test/fixtures/nn.json: PyTorch's own numbers for test/nn.test.ts and test/optim.test.ts.

Run with Debian's PyTorch, the same libtorch the addon links (so torch.manual_seed gives the same streams):

    /usr/bin/python3 tools/make_nn_fixtures.py

Sections of the file:

    optim.problem        the fixed least-squares problem: X [5,4], Y [5,3], initial W [4,3] and b [3] (float64);
                         loss = sum((X @ W + b - Y)^2)
    optim.trajectories   one entry per optimizer configuration: {name, optimizer, groups, steps: [[W, b] after
                         each step], state (the optimizer's state after the last step), state_after_3 (after
                         step 3, for the resume test)}; `groups` are the param groups as in the constructor
                         (params given as indices into [W, b]) with PyTorch's snake_case option names
    optim.state_dict     key names of Adam/AdamW/SGD state dicts (state entries and param_groups), including a
                         parameter that never gets a gradient
    optim.schedules      lr sequences of LambdaLR with transformers' linear / cosine warm-up schedules
    optim.clip           clip_grad_norm_ inputs, returned total norm and clipped gradients
    init                 parameter values after torch.manual_seed(seed) for nn.Linear, nn.Embedding and nn.init.*
    forward              module forward outputs (Linear, Embedding, LayerNorm, Dropout in train mode with a seed)
    models               print(model), state_dict keys, named_* names of two small nested models, and the
                         load_state_dict error messages / incompatible keys for them
    float_repr           Python's repr of some floats (as extra_repr prints them)

All float64 values are written with repr (exact round trip); float32 values as the exact float64 of the float32.
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

# PyTorch changed some results between 1.13 and 2.x (bf16 autocast rounding, RNG streams, messages): each major
# version writes its own file, and the tests read the one for the libtorch the addon links (test/helpers/fixture-file.ts).
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures',
                   'nn.json' if torch.__version__.startswith('1.') else 'nn.torch2.json')
torch.set_num_threads(1)


def vals(t):
    return [float(v) for v in t.detach().reshape(-1).double().tolist()]


def enc(t):
    return {'shape': list(t.shape), 'dtype': str(t.dtype).replace('torch.', ''), 'values': vals(t)}


# ================================================================================================ optimizers
gen = torch.Generator().manual_seed(1234)
X = torch.randn(5, 4, generator=gen, dtype=torch.float64)
Y = torch.randn(5, 3, generator=gen, dtype=torch.float64)
W0 = torch.randn(4, 3, generator=gen, dtype=torch.float64) * 0.5
B0 = torch.randn(3, generator=gen, dtype=torch.float64) * 0.5


def loss_fn(W, b):
    return ((X @ W + b - Y) ** 2).sum()


def js_name(k):
    return k


def state_of(opt, params):
    out = {}
    for i, p in enumerate(params):
        if p not in opt.state:
            continue
        s = {}
        for k, v in opt.state[p].items():
            if v is None:
                continue
            if torch.is_tensor(v):
                s[k] = float(v.item()) if v.dim() == 0 else vals(v)
            else:
                s[k] = v
        out[str(i)] = s
    return out


def run_trajectory(name, cls, groups, defaults, steps=5):
    W = W0.clone().requires_grad_(True)
    b = B0.clone().requires_grad_(True)
    params = [W, b]
    if groups is None:
        opt = cls(params, **defaults)
    else:
        opt = cls([dict(g, params=[params[i] for i in g['params']]) for g in groups], **defaults)
    traj = []
    state3 = None
    for step in range(steps):
        opt.zero_grad()
        loss_fn(W, b).backward()
        opt.step()
        traj.append([vals(W), vals(b)])
        if step == 2:
            state3 = state_of(opt, params)
    return {
        'name': name,
        'optimizer': cls.__name__,
        'defaults': defaults,
        'groups': groups,
        'steps': traj,
        'state': state_of(opt, params),
        'state_after_3': state3,
    }


trajectories = [
    run_trajectory('adam_default', torch.optim.Adam, None, {}),
    run_trajectory('adam_lr', torch.optim.Adam, None, {'lr': 0.05}),
    run_trajectory('adam_weight_decay', torch.optim.Adam, None, {'lr': 0.05, 'weight_decay': 0.1}),
    run_trajectory('adam_amsgrad', torch.optim.Adam, None, {'lr': 0.2, 'amsgrad': True}),
    run_trajectory('adam_betas_eps', torch.optim.Adam, None, {'lr': 0.05, 'betas': [0.8, 0.9], 'eps': 1e-3}),
    run_trajectory('adamw_default', torch.optim.AdamW, None, {}),
    run_trajectory('adamw_lr', torch.optim.AdamW, None, {'lr': 0.05}),
    run_trajectory('adamw_amsgrad', torch.optim.AdamW, None, {'lr': 0.2, 'amsgrad': True, 'weight_decay': 0.05}),
    run_trajectory('adamw_maximize', torch.optim.AdamW, None, {'lr': 0.05, 'maximize': True}),
    run_trajectory('adamw_two_groups', torch.optim.AdamW,
                   [{'params': [0], 'lr': 0.05, 'weight_decay': 0.1}, {'params': [1], 'lr': 0.01}],
                   {'weight_decay': 0.0}),
    run_trajectory('sgd_plain', torch.optim.SGD, None, {'lr': 0.01}),
    run_trajectory('sgd_momentum', torch.optim.SGD, None, {'lr': 0.01, 'momentum': 0.9}),
    run_trajectory('sgd_dampening', torch.optim.SGD, None, {'lr': 0.01, 'momentum': 0.9, 'dampening': 0.1}),
    run_trajectory('sgd_nesterov', torch.optim.SGD, None, {'lr': 0.01, 'momentum': 0.9, 'nesterov': True}),
    run_trajectory('sgd_weight_decay', torch.optim.SGD, None, {'lr': 0.01, 'weight_decay': 0.01}),
    run_trajectory('sgd_momentum_weight_decay_maximize', torch.optim.SGD, None,
                   {'lr': 0.005, 'momentum': 0.5, 'weight_decay': 0.01, 'maximize': True}),
    run_trajectory('sgd_two_groups', torch.optim.SGD,
                   [{'params': [0], 'lr': 0.02, 'momentum': 0.9}, {'params': [1]}], {'lr': 0.01}),
]


def state_dict_shape(cls, kwargs):
    W = W0.clone().requires_grad_(True)
    b = B0.clone().requires_grad_(True)
    frozen = torch.zeros(2, dtype=torch.float64, requires_grad=True)  # never gets a gradient
    opt = cls([W, b, frozen], **kwargs)
    for _ in range(2):
        opt.zero_grad()
        loss_fn(W, b).backward()
        opt.step()
    sd = opt.state_dict()
    return {
        'optimizer': cls.__name__,
        'kwargs': kwargs,
        'state_indices': sorted(int(k) for k in sd['state'].keys()),
        'state_keys': {str(k): sorted(k2 for k2, v in s.items() if v is not None) for k, s in sd['state'].items()},
        'state_steps': {str(k): float(s['step'].item()) if torch.is_tensor(s.get('step')) else None
                        for k, s in sd['state'].items()},
        'param_groups': [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd['param_groups']],
        'frozen_has_grad': frozen.grad is not None,
    }


state_dicts = [
    state_dict_shape(torch.optim.Adam, {'lr': 0.05}),
    state_dict_shape(torch.optim.AdamW, {'lr': 0.05, 'amsgrad': True}),
    state_dict_shape(torch.optim.SGD, {'lr': 0.01, 'momentum': 0.9}),
]


# ------------------------------------------------------------------------------------------------ schedules
def linear_lambda(num_warmup_steps, num_training_steps):
    # transformers.get_linear_schedule_with_warmup
    def lr_lambda(current_step):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        return max(0.0, float(num_training_steps - current_step) / float(max(1, num_training_steps - num_warmup_steps)))
    return lr_lambda


def cosine_lambda(num_warmup_steps, num_training_steps, num_cycles=0.5):
    # transformers.get_cosine_schedule_with_warmup
    def lr_lambda(current_step):
        if current_step < num_warmup_steps:
            return float(current_step) / float(max(1, num_warmup_steps))
        progress = float(current_step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))
    return lr_lambda


def run_schedule(kind, warmup, total, steps, cycles=None, lrs=(0.1, 0.02)):
    ps = [torch.zeros(1, requires_grad=True) for _ in lrs]
    opt = torch.optim.SGD([{'params': [p], 'lr': lr} for p, lr in zip(ps, lrs)], lr=1.0)
    lam = linear_lambda(warmup, total) if kind == 'linear' else cosine_lambda(warmup, total, cycles)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    seq = [list(sched.get_last_lr())]
    group_lrs = [[g['lr'] for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        sched.step()
        seq.append(list(sched.get_last_lr()))
        group_lrs.append([g['lr'] for g in opt.param_groups])
    sd = sched.state_dict()
    return {
        'kind': kind, 'warmup': warmup, 'total': total, 'steps': steps, 'num_cycles': cycles, 'base_lrs': list(lrs),
        'last_lr': seq, 'group_lr': group_lrs,
        'final_state': {'last_epoch': sd['last_epoch'], 'base_lrs': sd['base_lrs']},
    }


schedules = [
    run_schedule('linear', 3, 10, 12),
    run_schedule('linear', 0, 5, 6),
    run_schedule('cosine', 3, 10, 12, 0.5),
    run_schedule('cosine', 2, 8, 9, 1.5),
    run_schedule('cosine', 0, 6, 7, 0.5),
]


# ------------------------------------------------------------------------------------------------ clip_grad_norm_
def clip_case(name, max_norm, norm_type, scale, dtype=torch.float64):
    g = torch.Generator().manual_seed(99)
    shapes = [[4, 3], [3], [2, 2, 2]]
    grads = [torch.randn(s, generator=g, dtype=torch.float64).mul(scale).to(dtype) for s in shapes]
    ps = [torch.zeros(s, dtype=dtype, requires_grad=True) for s in shapes]
    for p, gr in zip(ps, grads):
        p.grad = gr.clone()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
    return {
        'name': name, 'max_norm': max_norm, 'norm_type': 'inf' if math.isinf(norm_type) else norm_type,
        'dtype': str(dtype).replace('torch.', ''),
        'grads': [enc(x) for x in grads], 'total_norm': float(total.item()), 'clipped': [enc(p.grad) for p in ps],
    }


clips = [
    clip_case('l2', 1.0, 2.0, 1.0),
    clip_case('inf', 0.5, float('inf'), 1.0),
    clip_case('l1', 2.0, 1.0, 1.0),
    clip_case('l2_no_clip', 100.0, 2.0, 1.0),
    clip_case('l2_float32', 1.0, 2.0, 3.0, torch.float32),
]


# ================================================================================================ init
def init_case(seed):
    out = {'seed': seed}
    torch.manual_seed(seed)
    lin = nn.Linear(5, 3)
    out['linear'] = {'weight': enc(lin.weight), 'bias': enc(lin.bias)}
    torch.manual_seed(seed)
    lin64 = nn.Linear(4, 2, dtype=torch.float64)
    out['linear_float64'] = {'weight': enc(lin64.weight), 'bias': enc(lin64.bias)}
    torch.manual_seed(seed)
    lin_nb = nn.Linear(3, 2, bias=False)
    out['linear_no_bias'] = {'weight': enc(lin_nb.weight)}
    torch.manual_seed(seed)
    emb = nn.Embedding(6, 4, padding_idx=1)
    out['embedding'] = {'weight': enc(emb.weight)}
    torch.manual_seed(seed)
    emb2 = nn.Embedding(5, 3, padding_idx=-1)
    out['embedding_negative_padding'] = {'weight': enc(emb2.weight), 'padding_idx': emb2.padding_idx}
    # Several modules made one after another from one seed: the draws must be consumed in the same order.
    torch.manual_seed(seed)
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Embedding(3, 2))
    out['sequential'] = {k: enc(v) for k, v in seq.state_dict().items()}

    def fresh(fn, shape, dtype=torch.float32):
        torch.manual_seed(seed)
        t = torch.empty(shape, dtype=dtype)
        fn(t)
        return enc(t)

    out['kaiming_uniform'] = fresh(lambda t: nn.init.kaiming_uniform_(t), [4, 6])
    out['kaiming_uniform_a_sqrt5'] = fresh(lambda t: nn.init.kaiming_uniform_(t, a=math.sqrt(5)), [3, 7])
    out['kaiming_uniform_fan_out_relu'] = fresh(
        lambda t: nn.init.kaiming_uniform_(t, mode='fan_out', nonlinearity='relu'), [2, 3, 4])
    out['kaiming_normal'] = fresh(lambda t: nn.init.kaiming_normal_(t), [4, 6])
    out['xavier_uniform'] = fresh(lambda t: nn.init.xavier_uniform_(t), [3, 5])
    out['xavier_uniform_gain_tanh'] = fresh(
        lambda t: nn.init.xavier_uniform_(t, gain=nn.init.calculate_gain('tanh')), [5, 3])
    out['xavier_normal'] = fresh(lambda t: nn.init.xavier_normal_(t, gain=0.7), [3, 5])
    out['normal'] = fresh(lambda t: nn.init.normal_(t), [7])
    out['normal_mean_std'] = fresh(lambda t: nn.init.normal_(t, mean=0.5, std=2.0), [2, 4])
    out['normal_float64'] = fresh(lambda t: nn.init.normal_(t, std=0.02), [6], torch.float64)
    out['uniform'] = fresh(lambda t: nn.init.uniform_(t), [5])
    out['uniform_ab'] = fresh(lambda t: nn.init.uniform_(t, -0.3, 0.7), [2, 3])
    out['uniform_float64'] = fresh(lambda t: nn.init.uniform_(t, -1.0, 1.0), [4], torch.float64)
    out['trunc_normal'] = fresh(lambda t: nn.init.trunc_normal_(t), [40])
    out['trunc_normal_narrow'] = fresh(lambda t: nn.init.trunc_normal_(t, mean=0.1, std=1.0, a=-0.5, b=0.5), [30])
    out['trunc_normal_float64'] = fresh(lambda t: nn.init.trunc_normal_(t, std=0.02, a=-0.04, b=0.04), [10],
                                        torch.float64)
    # Less than 30% of the mass inside [a, b]: PyTorch 2.x proposes uniformly on [a, b] and accepts by the density.
    out['trunc_normal_tail'] = fresh(lambda t: nn.init.trunc_normal_(t, mean=0.0, std=1.0, a=1.5, b=3.0), [25])
    out['gains'] = {
        'linear': nn.init.calculate_gain('linear'), 'sigmoid': nn.init.calculate_gain('sigmoid'),
        'tanh': nn.init.calculate_gain('tanh'), 'relu': nn.init.calculate_gain('relu'),
        'leaky_relu': nn.init.calculate_gain('leaky_relu'), 'leaky_relu_0.2': nn.init.calculate_gain('leaky_relu', 0.2),
    }
    return out


inits = [init_case(0), init_case(1234)]


# ================================================================================================ forward
def forward_cases():
    torch.manual_seed(7)
    x = torch.randn(2, 3, 5)
    lin = nn.Linear(5, 4)
    ids = torch.tensor([[0, 3, 1], [5, 1, 2]])
    emb = nn.Embedding(6, 4, padding_idx=1)
    ln = nn.LayerNorm(5, eps=1e-12)
    with torch.no_grad():
        ln.weight.copy_(torch.randn(5))
        ln.bias.copy_(torch.randn(5))
    ln2 = nn.LayerNorm([3, 5])
    out = {
        'x': enc(x), 'ids': {'shape': list(ids.shape), 'values': ids.reshape(-1).tolist()},
        'linear': {'weight': enc(lin.weight), 'bias': enc(lin.bias), 'out': enc(lin(x))},
        'embedding': {'weight': enc(emb.weight), 'out': enc(emb(ids))},
        'layer_norm': {'weight': enc(ln.weight), 'bias': enc(ln.bias), 'out': enc(ln(x))},
        'layer_norm_2d': {'out': enc(ln2(x))},
        'gelu': enc(nn.GELU()(x)), 'gelu_tanh': enc(nn.GELU(approximate='tanh')(x)), 'relu': enc(nn.ReLU()(x)),
        'tanh': enc(nn.Tanh()(x)), 'sigmoid': enc(nn.Sigmoid()(x)), 'silu': enc(nn.SiLU()(x)),
    }
    # Dropout in train mode draws its mask from the global generator.
    d = nn.Dropout(0.3)
    torch.manual_seed(11)
    out['dropout_train'] = {'p': 0.3, 'seed': 11, 'out': enc(d(x))}
    d.eval()
    out['dropout_eval_equal'] = bool(torch.equal(d(x), x))
    # Embedding gradient: the padding row gets none.
    w = emb.weight
    emb(ids).pow(2).sum().backward()
    out['embedding']['grad'] = enc(w.grad)
    return out


forward = forward_cases()


# ================================================================================================ models
class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8, padding_idx=0)
        self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Dropout(0.1), nn.LayerNorm(8, eps=1e-12), nn.GELU())
        self.heads = nn.ModuleList([nn.Linear(8, 4), nn.Linear(8, 2, bias=False)])
        self.extra = nn.ModuleDict({'norm': nn.LayerNorm(8), 'act': nn.Tanh(), 'drop': nn.Dropout(0.25)})
        self.register_buffer('position_ids', torch.arange(6).expand((1, -1)))
        self.register_buffer('cache', torch.zeros(2), persistent=False)  # in named_buffers, not in state_dict
        self.scale = nn.Parameter(torch.ones(1))


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = self.a  # the same module under two names
        self.c = nn.Linear(3, 3, bias=False)
        self.c.weight = self.a.weight  # a tied parameter
        self.register_module('missing', None)
        self.norm = nn.LayerNorm([2, 3], eps=1e-6, elementwise_affine=False)
        self.act = nn.GELU(approximate='tanh')
        self.register_buffer('mask', torch.ones(3, dtype=torch.bool))


def apply_order(m):
    names = {id(x): n for n, x in m.named_modules()}
    order = []
    m.apply(lambda x: order.append(names[id(x)]))
    return order


def describe(m):
    return {
        'repr': repr(m),
        'state_dict_keys': list(m.state_dict().keys()),
        'state_dict_shapes': {k: list(v.shape) for k, v in m.state_dict().items()},
        'state_dict_dtypes': {k: str(v.dtype).replace('torch.', '') for k, v in m.state_dict().items()},
        'named_parameters': [n for n, _ in m.named_parameters()],
        'named_parameters_no_recurse': [n for n, _ in m.named_parameters(recurse=False)],
        'named_buffers': [n for n, _ in m.named_buffers()],
        'named_children': [n for n, _ in m.named_children()],
        'named_modules': [n for n, _ in m.named_modules()],
        'module_types': [type(x).__name__ for _, x in m.named_modules()],
        'num_parameters': sum(p.numel() for p in m.parameters()),
        'apply_order': apply_order(m),
        'children_types': [type(x).__name__ for x in m.children()],
    }


def load_errors(m, build):
    sd = {k: v.clone() for k, v in m.state_dict().items()}
    out = {}
    # missing + unexpected, strict
    bad = dict(sd)
    removed = list(bad.keys())[1:3]
    for k in removed:
        del bad[k]
    bad['not.a.key'] = torch.zeros(1)
    bad['body.9.weight'] = torch.zeros(1) if 'body.0.weight' in sd else torch.zeros(2)
    try:
        build().load_state_dict(bad)
        out['strict_error'] = None
    except RuntimeError as e:
        out['strict_error'] = str(e)
    res = build().load_state_dict(bad, strict=False)
    out['removed'] = removed
    out['extra'] = ['not.a.key', 'body.9.weight']
    out['missing_keys'] = list(res.missing_keys)
    out['unexpected_keys'] = list(res.unexpected_keys)
    # size mismatch (raised even with strict=False)
    k0 = list(sd.keys())[0]
    shape = list(sd[k0].shape)
    wrong = dict(sd)
    wrong[k0] = torch.zeros([s + 1 for s in shape])
    out['size_mismatch_key'] = k0
    out['size_mismatch_shape'] = [s + 1 for s in shape]
    try:
        build().load_state_dict(wrong, strict=False)
        out['size_mismatch_error'] = None
    except RuntimeError as e:
        out['size_mismatch_error'] = str(e)
    return out


torch.manual_seed(0)
tiny = TinyNet()
shared = Shared()
models = {
    'tiny': dict(describe(tiny), load=load_errors(tiny, TinyNet)),
    'shared': dict(describe(shared), load=load_errors(shared, Shared)),
    'sequential_repr': repr(nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Identity(), nn.SiLU(), nn.Sigmoid()))),
    'empty_module_list_repr': repr(nn.ModuleList()),
}

float_repr = {repr(v): v for v in [1e-5, 1e-12, 0.1, 0.25, 1.0, 0.0001, 1e-4 * 3, 123456789.0, 1e16, 1e17, 1.5e-7,
                                   0.5, 2.0, 1e22, 12345678901234567.0, 0.001, -1e-05, 3.14159]}
float_repr = [[v, r] for r, v in float_repr.items()]

data = {
    'torch_version': torch.__version__,
    'optim': {
        'problem': {'X': enc(X), 'Y': enc(Y), 'W0': enc(W0), 'b0': enc(B0)},
        'trajectories': trajectories,
        'state_dict': state_dicts,
        'schedules': schedules,
        'clip': clips,
    },
    'init': inits,
    'forward': forward,
    'models': models,
    'float_repr': float_repr,
}

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump(data, f, separators=(',', ':'))
    f.write('\n')
print('wrote', os.path.relpath(OUT), os.path.getsize(OUT), 'bytes')
