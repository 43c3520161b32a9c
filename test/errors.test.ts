// Misuse gives a clear JavaScript Error that names the problem (libtorch's C++ exceptions are turned into
// `opName: message` errors by the native guard), nothing leaks, and the process keeps working afterwards.
import * as torch from '../lib';
import type { Tensor } from '../lib';
import { F } from '../lib';

/** Runs fn, which must throw; returns the error. The addon's errors come from Node's main realm, so they are
 *  checked by their [[Class]] rather than `instanceof Error` (which is realm-specific under jest). */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    expect(Object.prototype.toString.call(e)).toBe('[object Error]');
    expect(typeof (e as Error).message).toBe('string');
    return e as Error;
  }
  throw new Error('expected an error, but the call returned normally');
}

/** A normal op after the failure: the addon is still usable, and the failed call leaked no tensor. */
function stillWorks(before: number): void {
  const r = torch.tidy(() =>
    torch
      .tensor([
        [1, 2],
        [3, 4],
      ])
      .matmul(torch.tensor([[1], [1]]))
      .toArray(),
  );
  expect(r).toEqual([[3], [7]]);
  expect(torch.memory().numTensors).toBe(before);
}

/** expect-throw + still-works for one misuse; the tensors it needs are made (and freed) around it. */
function expectError(fn: () => unknown, message: RegExp): Error {
  const before = torch.memory().numTensors;
  const e = torch.tidy(() => thrown(fn));
  expect(e.message).toMatch(message);
  stillWorks(before);
  return e;
}

describe('shape mismatches', () => {
  test('add with non-broadcastable shapes', () => {
    const e = expectError(
      () => torch.ones([2, 3]).add(torch.ones([4])),
      /^add: The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1$/,
    );
    expect(e.message).not.toMatch(/\n/); // only the first line of libtorch's message, no C++ backtrace
  });
  test('matmul with inner dimensions that differ', () => {
    expectError(
      () => torch.ones([2, 3]).matmul(torch.ones([4, 5])),
      /^matmul: mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/,
    );
    expectError(() => torch.ones([3]).matmul(torch.ones([4])), /^matmul: .*(size|shape)/i);
    expectError(() => torch.ones([2, 3, 4]).bmm(torch.ones([2, 5, 6])), /^bmm: .*(size|shape)/i);
  });
  test('other ops name the mismatch too', () => {
    expectError(
      () => torch.cat([torch.ones([2, 3]), torch.ones([2, 4])], 0),
      /^cat: Sizes of tensors must match except in dimension 0/,
    );
    expectError(() => F.linear(torch.ones([2, 3]), torch.ones([4, 5])), /^linear: .*(shape|size)/i);
    expectError(() => F.mseLoss(torch.ones([2, 3]), torch.ones([4])), /^mseLoss: .*(size|shape)/i);
    expectError(
      () => torch.ones([2, 3]).softmax(2),
      /^softmax: Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)/,
    );
  });
});

describe('wrong dtypes', () => {
  test('embedding with float indices', () => {
    expectError(
      () => F.embedding(torch.tensor([0, 1]), torch.ones([3, 2])),
      /^embedding: Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got .*Float/,
    );
  });
  test('crossEntropy with float class targets', () => {
    // The op name and the essential words; the wording is libtorch's and changed in 2.x ("expected target dtype to be
    // Long or Byte, but got Float" after 1.13's "expected scalar type Long but found Float").
    expectError(
      () => F.crossEntropy(torch.ones([2, 3]), torch.tensor([0, 1])),
      /^crossEntropy: expected .*Long.* (found|got) Float/,
    );
  });
  test('mean of an int64 tensor, grad of an int tensor, an unknown dtype name', () => {
    expectError(() => torch.arange(3).mean(), /^mean: .*could not infer output dtype.*Got: Long/);
    expectError(
      () => torch.tensor([1n, 2n], { requiresGrad: true }),
      /Only Tensors of floating point and complex dtype can require gradients/,
    );
    expectError(() => torch.zeros([2], { dtype: 'complex64' as never }), /unknown dtype 'complex64'/);
  });
});

describe('wrong devices', () => {
  test("'cuda:7' when there is no such GPU", () => {
    const n = torch.cuda.deviceCount();
    if (n > 7) return; // a machine with eight GPUs has a cuda:7
    const problem = n === 0 ? /device 'cuda:7' requested, but CUDA is not available/ : /device 'cuda:7' does not exist/;
    expectError(() => torch.ones([2]).to('cuda:7'), new RegExp('^to: ' + problem.source));
    expectError(() => torch.zeros([2], { device: 'cuda:7' }), new RegExp('^zeros: ' + problem.source));
    expectError(() => torch.tensor([1, 2], { device: 'cuda:7' }), problem);
  });
  test('plain cuda when CUDA is not available', () => {
    if (torch.cuda.isAvailable()) return;
    expectError(() => torch.ones([2]).cuda(), /CUDA is not available/);
    expectError(() => torch.randn([2], { device: 'cuda' }), /CUDA is not available/);
  });
  test("an unknown device type such as 'tpu'", () => {
    expectError(
      () => torch.zeros([2], { device: 'tpu' }),
      /^zeros: Expected one of cpu, cuda, .* device type at start of device string: tpu$/,
    );
    expectError(() => torch.ones([2]).to('tpu'), /'tpu' is neither a dtype .* nor a device/);
    expectError(() => torch.ones([2]).to({ device: 'tpu' }), /device string: tpu/);
  });
});

describe('out-of-range indices', () => {
  test('select', () => {
    expectError(
      () => torch.ones([2, 3]).select(0, 5),
      /^select: .*index 5 out of range for tensor of size \[2, 3\] at dimension 0/,
    );
    expectError(() => torch.ones([2, 3]).select(2, 0), /^select: Dimension out of range/);
  });
  test('indexSelect', () => {
    expectError(() => torch.ones([2, 3]).indexSelect(1, torch.tensor([0n, 7n])), /^indexSelect: .*out of .*bounds.*7/i);
  });
  test('gather', () => {
    expectError(
      () =>
        torch.ones([2, 3]).gather(
          1,
          torch.tensor([
            [0n, 9n],
            [0n, 0n],
          ]),
        ),
      /^gather: index 9 is out of bounds for dimension 1 with size 3/,
    );
  });
  test('embedding index >= vocabulary size', () => {
    expectError(
      () => F.embedding(torch.tensor([0n, 3n]), torch.ones([3, 2])),
      /^embedding: index out of range in self/,
    );
  });
  test('crossEntropy target >= number of classes, narrow past the end', () => {
    expectError(
      () => F.crossEntropy(torch.ones([2, 3]), torch.tensor([0n, 5n])),
      /^crossEntropy: Target 5 is out of bounds/,
    );
    expectError(() => torch.ones([4]).narrow(0, 2, 5), /^narrow: .*exceeds dimension size/);
  });
});

describe('use after dispose', () => {
  test('a method on a disposed tensor', () => {
    const t = torch.ones([2]);
    t.dispose();
    expect(t.isDisposed).toBe(true);
    expectError(() => t.add(1), /^addScalar: argument 1 is a tensor that has been disposed$/);
    expectError(() => t.shape, /disposed/);
    expectError(() => t.dataSync(), /disposed/);
    expectError(() => t.handle, /Tensor has been disposed/);
    expect(String(t)).toBe('Tensor(disposed)');
    t.dispose(); // twice is fine
  });
  test('a disposed tensor as an argument, also where the argument is optional', () => {
    const a = torch.keep(torch.ones([2, 2]));
    const d = torch.ones([2]);
    d.dispose();
    expectError(() => a.add(d), /got one that has been disposed/);
    expectError(() => torch.cat([a, d]), /disposed/);
    // An optional tensor (bias, mask, backward's gradient) must not silently become "none".
    expectError(() => F.linear(a, a, d), /disposed/);
    expectError(() => F.scaledDotProductAttention(a, a, a, { attnMask: d }), /disposed/);
    const x = torch.ones([2], { requiresGrad: true });
    const y = x.mul(2);
    expectError(() => y.backward(d), /disposed/);
    x.dispose();
    y.dispose();
    a.dispose();
  });
  test('tensors freed by tidy are disposed afterwards', () => {
    let inner: Tensor | null = null;
    torch.tidy(() => {
      inner = torch.ones([3]);
    });
    expect(inner!.isDisposed).toBe(true);
    expectError(() => inner!.sum(), /disposed/);
  });
});

describe('non-tensor arguments', () => {
  const a = () => torch.ones([2, 2]);
  test('a string where a Tensor or number is expected', () => {
    expectError(() => a().add('x' as never), /^addScalar: argument 2 must be a number$/);
    expectError(() => a().matmul('x' as never), /expected a Tensor, got string/);
    expectError(() => torch.cat([a(), 'x' as never]), /expected a Tensor, got string/);
  });
  test('null', () => {
    expectError(() => a().add(null as never), /expected a Tensor, got null/);
    expectError(() => F.crossEntropy(a(), null as never), /expected a Tensor, got null/);
  });
  test('a plain array', () => {
    expectError(() => a().matmul([1, 2] as never), /expected a Tensor, got an array/);
    expectError(() => torch.where([true, false] as never, a(), a()), /expected a Tensor, got an array/);
  });
  test('wrong argument types for numbers and shapes', () => {
    expectError(() => a().view('x' as never), /^view: argument 2 must be an array of integers$/);
    expectError(() => a().sum(1.5), /must be an integer/);
    expectError(() => a().transpose(0, null as never), /^transpose: argument 3 must be an integer$/);
    expectError(
      () => F.crossEntropy(a(), torch.tensor([0n, 1n]), { reduction: 'avg' as never }),
      /reduction must be 'mean', 'sum' or 'none', got 'avg'/,
    );
  });
});

describe('NaN and infinity propagate without crashing', () => {
  test('element-wise ops, reductions, matmul, softmax, losses', () => {
    torch.tidy(() => {
      const x = torch.tensor([
        [NaN, 1],
        [2, Infinity],
      ]);
      const v = (t: Tensor) => Array.from(t.dataSync() as Float32Array);
      expect(v(x.add(1))).toEqual([NaN, 2, 3, Infinity]);
      expect(v(x.relu())).toEqual([NaN, 1, 2, Infinity]);
      expect(Number.isNaN(x.sum().item())).toBe(true);
      expect(Number.isNaN(x.max().item())).toBe(true); // max propagates NaN, as in PyTorch
      expect(v(x.matmul(torch.eye(2))).some(Number.isNaN)).toBe(true);
      expect(v(x.softmax(1).select(0, 0)).every(Number.isNaN)).toBe(true);
      expect(v(x.softmax(1).select(1, 0))).toEqual([NaN, NaN]); // exp(inf - inf)
      expect(x.isnan().toArray()).toEqual([
        [true, false],
        [false, false],
      ]);
      expect(x.isinf().toArray()).toEqual([
        [false, false],
        [false, true],
      ]);
      expect(Number.isNaN(F.crossEntropy(x, torch.tensor([1n, 0n])).item())).toBe(true);
      expect(
        torch
          .tensor([0])
          .div(torch.tensor([0]))
          .isnan()
          .item(),
      ).toBe(true);
      expect(torch.tensor([-1]).log().isnan().item()).toBe(true);
      expect(torch.tensor([0]).log().item()).toBe(-Infinity);
      expect(String(torch.tensor([NaN, 1.5]))).toBe('tensor([   nan, 1.5000])');
    });
    stillWorks(torch.memory().numTensors);
  });
});

describe('empty shapes', () => {
  test('zeros([0, 3]) through ops and reductions', () => {
    torch.tidy(() => {
      const e = torch.zeros([0, 3]);
      expect(e.shape).toEqual([0, 3]);
      expect(e.numel()).toBe(0);
      expect(e.dataSync().length).toBe(0);
      expect(e.toArray()).toEqual([]);
      expect(e.add(1).shape).toEqual([0, 3]);
      expect(e.sum().item()).toBe(0);
      expect(e.sum(0).toArray()).toEqual([0, 0, 0]);
      expect(e.sum(1).shape).toEqual([0]);
      expect(Number.isNaN(e.mean().item())).toBe(true); // PyTorch: tensor(nan)
      expect(e.matmul(torch.ones([3, 2])).shape).toEqual([0, 2]);
      expect(
        torch
          .zeros([2, 0])
          .matmul(torch.zeros([0, 3]))
          .toArray(),
      ).toEqual([
        [0, 0, 0],
        [0, 0, 0],
      ]);
      expect(torch.cat([e, torch.ones([1, 3])]).toArray()).toEqual([[1, 1, 1]]);
      expect(e.softmax(1).shape).toEqual([0, 3]);
      expect(e.t().shape).toEqual([3, 0]);
      expect(e.view([3, 0]).shape).toEqual([3, 0]);
      expect(String(e)).toBe('tensor([], size=(0, 3))');
      expect(torch.tensor([]).sum().item()).toBe(0);
    });
  });
  test('a max over an empty tensor is an error, not a crash', () => {
    expectError(() => torch.zeros([0, 3]).max(), /Expected reduction dim to be specified for input.numel\(\) == 0/);
    // 1.13: "negative dimension -1"; 2.x: "Dimension size must be non-negative".
    expectError(() => torch.zeros([-1]), /^zeros: .*(negative dimension -1|non-negative)/);
  });
});

describe('views, autograd and read-back misuse', () => {
  test('view with an incompatible shape', () => {
    expectError(() => torch.ones([2, 3]).view([4]), /^view: shape '\[4\]' is invalid for input of size 6$/);
    expectError(
      () => torch.ones([2, 3]).t().view([6]),
      /^view: view size is not compatible with input tensor's size and stride.*Use \.reshape\(\.\.\.\) instead\.$/,
    );
    expectError(() => torch.ones([2, 3]).reshape([-1, -1]), /^reshape: only one dimension can be inferred$/);
    expectError(
      () => torch.ones([2, 3]).expand([4, 3]),
      /^expand: The expanded size of the tensor \(4\) must match the existing size \(2\)/,
    );
  });
  test('backward on a tensor that does not require grad', () => {
    expectError(
      () => torch.ones([2]).sum().backward(),
      /^backward: element 0 of tensors does not require grad and does not have a grad_fn$/,
    );
    expectError(
      () => torch.noGrad(() => torch.ones([2], { requiresGrad: true }).sum()).backward(),
      /does not require grad/,
    );
  });
  test('item() on a multi-element tensor', () => {
    expectError(() => torch.ones([2, 3]).item(), /^item: a Tensor with 6 elements cannot be converted to a number$/);
    expectError(() => torch.zeros([0]).item(), /a Tensor with 0 elements cannot be converted/);
  });
  test('tidy that returns a Promise', () => {
    expectError(() => torch.tidy((async () => torch.ones([1])) as never), /tidy only tracks synchronous code/);
  });
});
