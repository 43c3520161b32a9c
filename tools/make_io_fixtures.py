#!/usr/bin/python3
"""Writes the reference files for test/io.test.ts into test/fixtures/io/.

Run with Debian's python3 and torch (no safetensors package needed):
    /usr/bin/python3 tools/make_io_fixtures.py

Outputs:
  tensors.pt           torch.save (zip format) of an OrderedDict covering every dtype, a transposed tensor,
                       a slice with a storage offset, views sharing one storage, a Parameter, a 0-dim scalar
                       and an empty tensor; the dict carries a `_metadata` attribute like a real state dict.
  tensors-deflated.pt  the same archive with its entries deflated instead of stored.
  tensors.safetensors  the same tensors in safetensors format, written by hand the way the safetensors
                       library does (largest dtype alignment first, then by name; header padded to 8 bytes).
  expected.json        name -> {dtype, shape, values (flat, C order)}.
  no-data-pkl.pt       a zip archive without data.pkl.
  evil.pt              a torch-like archive whose data.pkl calls os.system: must be refused.
  missing-storage.pt   tensors.pt without one of its storage entries.
  bad-pickle.pt        tensors.pt with its data.pkl cut short.
"""
import collections
import json
import os
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'io')

SAFETENSORS_DTYPES = {
    torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.bfloat16: 'BF16',
    torch.int64: 'I64', torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8',
    torch.bool: 'BOOL',
}
# The safetensors Dtype enum order (increasing alignment); files list the largest first.
ALIGNMENT_ORDER = ['BOOL', 'U8', 'I8', 'I16', 'F16', 'BF16', 'I32', 'F32', 'F64', 'I64']


def make_tensors():
    torch.manual_seed(0)
    matrix = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4 - 1
    shared = torch.randn(2, 5)
    line = torch.arange(10, dtype=torch.float32) * 0.5
    return collections.OrderedDict([
        ('float32', torch.randn(2, 3)),
        ('float64', torch.randn(3, dtype=torch.float64)),
        ('float16', torch.tensor([0.5, -1.25, 65504.0, 1e-3], dtype=torch.float16)),
        ('bfloat16', torch.tensor([[1.0, -2.5], [3.0e10, 0.0078125]], dtype=torch.bfloat16)),
        ('int64', torch.tensor([0, -1, 2 ** 40, -(2 ** 50) + 3], dtype=torch.int64)),
        ('int32', torch.tensor([7, -2 ** 31, 2 ** 31 - 1], dtype=torch.int32)),
        ('int16', torch.tensor([-32768, 32767, 5], dtype=torch.int16)),
        ('int8', torch.tensor([-128, 127, 0], dtype=torch.int8)),
        ('uint8', torch.tensor([0, 255, 17], dtype=torch.uint8)),
        ('bool', torch.tensor([True, False, False, True, True])),
        ('transposed', matrix.t()),                      # non-contiguous, strides (1, 4)
        ('column', matrix[:, 1]),                        # stride 4, storage offset 1
        ('sliced', line[3:7]),                           # storage offset 3 in a 10-element storage
        ('shared_a', shared[0]),                         # shared_a and shared_b share one storage
        ('shared_b', shared[1]),
        ('bf16_transposed', torch.randn(2, 3).to(torch.bfloat16).t()),
        ('param', torch.nn.Parameter(torch.randn(2, 2))),
        ('scalar', torch.tensor(3.25, dtype=torch.float64)),
        ('empty', torch.zeros(0, 3)),
    ])


def tensor_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the same 2-byte words
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, metadata):
    names = sorted(tensors, key=lambda n: (-ALIGNMENT_ORDER.index(SAFETENSORS_DTYPES[tensors[n].dtype]), n.encode()))
    header = {'__metadata__': metadata}
    chunks, offset = [], 0
    for name in names:
        data = tensor_bytes(tensors[name])
        t = tensors[name]
        header[name] = {'dtype': SAFETENSORS_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(chunks))


def expected_values(tensors):
    out = {}
    for name, t in tensors.items():
        t = t.detach()
        values = t.to(torch.float64) if t.dtype in (torch.float16, torch.bfloat16) else t
        out[name] = {
            'dtype': str(t.dtype).replace('torch.', ''),
            'shape': list(t.shape),
            'values': values.reshape(-1).tolist(),
        }
    return out


def rezip_deflated(src, dst):
    with zipfile.ZipFile(src) as z:
        write_zip(dst, {info.filename: z.read(info.filename) for info in z.infolist()}, zipfile.ZIP_DEFLATED)


def write_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, 'w') as z:
        for name, data in entries.items():
            # A fixed timestamp keeps the fixtures byte-identical from run to run.
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=compression)


def write_damaged_copies(src):
    with zipfile.ZipFile(src) as z:
        entries = {info.filename: z.read(info.filename) for info in z.infolist()}
    write_zip(os.path.join(OUT, 'missing-storage.pt'), {k: v for k, v in entries.items() if k != 'tensors/data/0'})
    cut = dict(entries, **{'tensors/data.pkl': entries['tensors/data.pkl'][:60]})
    write_zip(os.path.join(OUT, 'bad-pickle.pt'), cut)


# pickle protocol 2: GLOBAL os.system, the tuple ('echo pwned',), REDUCE, STOP
EVIL_PICKLE = b'\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R.'


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = make_tensors()
    assert not tensors['transposed'].is_contiguous() and tensors['sliced'].storage_offset() == 3
    assert tensors['shared_a'].storage().data_ptr() == tensors['shared_b'].storage().data_ptr()
    state = collections.OrderedDict(tensors)
    state._metadata = collections.OrderedDict([('', {'version': 1})])  # torch pickles this with BUILD
    torch.save(state, os.path.join(OUT, 'tensors.pt'))
    rezip_deflated(os.path.join(OUT, 'tensors.pt'), os.path.join(OUT, 'tensors-deflated.pt'))
    write_safetensors(os.path.join(OUT, 'tensors.safetensors'), tensors, {'format': 'pt', 'source': 'make_io_fixtures'})
    with open(os.path.join(OUT, 'expected.json'), 'w') as f:
        lines = [f'{json.dumps(k)}: {json.dumps(v)}' for k, v in expected_values(tensors).items()]
        f.write('{\n' + ',\n'.join(lines) + '\n}\n')
    write_zip(os.path.join(OUT, 'no-data-pkl.pt'), {'archive/version': b'3\n', 'archive/data/0': b'\0' * 8})
    write_zip(os.path.join(OUT, 'evil.pt'), {'archive/data.pkl': EVIL_PICKLE, 'archive/version': b'3\n'})
    write_damaged_copies(os.path.join(OUT, 'tensors.pt'))
    for name in sorted(os.listdir(OUT)):
        print(f'{name}: {os.path.getsize(os.path.join(OUT, name))} bytes')


if __name__ == '__main__':
    main()
