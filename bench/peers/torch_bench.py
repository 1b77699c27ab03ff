#!/usr/bin/python3
"""PyTorch's side of the benchmark (Debian python3-torch), float32: the same workloads and sizes as
bench/harness.ts, printed as the same JSON lines.

    /usr/bin/python3 bench/peers/torch_bench.py --threads=1|2 [--quick] [--only=matmul,relu,...]

The thread count is set in the environment before torch is imported, so that OpenBLAS's own pool follows it.
"""
import json
import os
import sys

args = dict(a[2:].partition('=')[::2] for a in sys.argv[1:] if a.startswith('--'))
THREADS = int(args.get('threads') or 1)
QUICK = 'quick' in args
ONLY = set((args.get('only') or 'matmul,relu,elementwise,mlp,conv,overhead,memory').split(','))
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = str(THREADS)

import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(THREADS)
PEER = f'torch ({THREADS} thread{"s" if THREADS > 1 else ""})'
MLP_DIMS = (784, 256, 128, 10)
MLP_BATCH = 128
MLP_FLOPS = 2 * MLP_BATCH * (784 * 256 + 256 * 128 + 128 * 10) * 2 + 2 * MLP_BATCH * (256 * 128 + 128 * 10)


def emit(**record):
    print(json.dumps(dict(peer=PEER, threads=THREADS, **record)), flush=True)


def uniform(n, seed, scale=1.0):
    """The harness's linear congruential generator, so every peer sees the same data."""
    out = torch.empty(n, dtype=torch.float32)
    s = seed & 0xFFFFFFFF
    values = []
    for _ in range(n):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        values.append((s / 4294967296 * 2 - 1) * scale)
    out[:] = torch.tensor(values, dtype=torch.float32)
    return out


def fast_uniform(n, seed, scale=1.0):
    """Large inputs: torch's own generator (values do not change the timing)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, generator=g) * 2 - 1) * scale


def measure(fn, samples=15, budget_ms=4000.0, inner=0, warmup_ms=300.0):
    now = time.perf_counter
    t0, last, calls = now(), 0.0, 0
    while calls < 2 or (now() - t0) * 1e3 < warmup_ms:
        a = now()
        fn()
        last = (now() - a) * 1e3
        calls += 1
        if calls >= 2 and last > warmup_ms:
            break
    k = inner or max(1, -(-20 // max(last, 1e-3)))
    k = int(k)
    n = max(5, min(samples, int(budget_ms / (k * max(last, 1e-3)))))
    xs = []
    for _ in range(n):
        a = now()
        for _ in range(k):
            fn()
        xs.append((now() - a) * 1e3 / k)
    return statistics.median(xs), min(xs), max(xs)


def per_size():
    return dict(samples=5, budget_ms=1500.0) if QUICK else dict(samples=15, budget_ms=4000.0)


def per_step():
    return dict(samples=15 if QUICK else 50, inner=1, budget_ms=1e9, warmup_ms=500.0)


SIZE_LABEL = {'mlp': 'batch 128, 784-256-128-10', 'conv': 'batch 32, 1→16, 3×3, 28×28', 'overhead': 'add of 1000'}


def guarded(workload, fn):
    if workload not in ONLY:
        return
    try:
        fn()
    except Exception as e:  # a workload that fails is recorded, and the others go on
        print(f'# {PEER} {workload} failed: {e}', file=sys.stderr)
        emit(workload=workload, size=SIZE_LABEL.get(workload, ''), value=None, low=None, high=None, unit='ms', higherIsBetter=False, error=str(e).split('\n')[0])


def bench_matmul():
    with torch.no_grad():
        for n in (64, 256, 512, 1024):
            a = fast_uniform(n * n, 1).reshape(n, n)
            b = fast_uniform(n * n, 2).reshape(n, n)
            med, lo, hi = measure(lambda: torch.matmul(a, b), **per_size())
            f = 2 * n ** 3
            emit(workload='matmul', size=str(n), value=f / (med * 1e6), low=f / (hi * 1e6), high=f / (lo * 1e6), unit='GFLOP/s', higherIsBetter=True)


def bench_relu():
    for n in (10 ** 6, 10 ** 7):
        x = fast_uniform(n, 3).requires_grad_(True)
        dy = fast_uniform(n, 4)

        def step():
            (dx,) = torch.autograd.grad(torch.relu(x), x, dy)
            return dx
        med, lo, hi = measure(step, **per_size())
        b = 20 * n
        emit(workload='relu', size=f'{n:.0e}'.replace('e+0', 'e+'), value=b / (med * 1e6), low=b / (hi * 1e6), high=b / (lo * 1e6), unit='GB/s', higherIsBetter=True, note='autograd.grad(relu(x), x, dy)')


def bench_elementwise():
    n, rows, cols = 10 ** 6, 1000, 1000
    a = fast_uniform(n, 7)
    b = fast_uniform(n, 8)
    x = fast_uniform(rows * cols, 9).reshape(rows, cols)
    bias = fast_uniform(cols, 10)
    med, lo, hi = measure(lambda: torch.mul(a, b), **per_size())
    emit(workload='elementwise', size='mul of 1e+6', value=12 * n / (med * 1e6), low=12 * n / (hi * 1e6), high=12 * n / (lo * 1e6), unit='GB/s', higherIsBetter=True, note='12 B/element')
    med, lo, hi = measure(lambda: torch.add(x, bias), **per_size())
    f = 8 * rows * cols
    emit(workload='elementwise', size='bias add 1000×1000', value=f / (med * 1e6), low=f / (hi * 1e6), high=f / (lo * 1e6), unit='GB/s', higherIsBetter=True, note='8 B/element')


def mlp_step():
    torch.manual_seed(0)
    i, h1, h2, o = MLP_DIMS
    model = torch.nn.Sequential(torch.nn.Linear(i, h1), torch.nn.ReLU(), torch.nn.Linear(h1, h2), torch.nn.ReLU(), torch.nn.Linear(h2, o))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = uniform(MLP_BATCH * i, 20).reshape(MLP_BATCH, i)
    y = torch.arange(MLP_BATCH) % o

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def bench_mlp():
    med, lo, hi = measure(mlp_step(), **per_step())
    emit(workload='mlp', size='batch 128, 784-256-128-10', value=med, low=lo, high=hi, unit='ms', higherIsBetter=False, note=f'{MLP_FLOPS / (med * 1e6):.1f} GFLOP/s')


def bench_conv():
    x = uniform(32 * 28 * 28, 30).reshape(32, 1, 28, 28)
    w = uniform(16 * 9, 31, 1 / 3).reshape(16, 1, 3, 3).requires_grad_(True)
    b = torch.zeros(16, requires_grad=True)

    def step():
        w.grad = None
        b.grad = None
        torch.relu(torch.nn.functional.conv2d(x, w, b, padding='same')).sum().backward()
    med, lo, hi = measure(step, **per_step())
    emit(workload='conv', size='batch 32, 1→16, 3×3, 28×28', value=med, low=lo, high=hi, unit='ms', higherIsBetter=False)


def bench_overhead():
    a = uniform(1000, 5)
    b = uniform(1000, 6)
    med, lo, hi = measure(lambda: torch.add(a, b), **per_size())
    emit(workload='overhead', size='add of 1000', value=med * 1e3, low=lo * 1e3, high=hi * 1e3, unit='µs', higherIsBetter=False)


def bench_memory():
    step = mlp_step()
    steps = 200 if QUICK else 1000
    every = steps // 20
    first = peak = last = 0.0
    for s in range(1, steps + 1):
        step()
        if s % every == 0:
            with open('/proc/self/statm') as f:
                last = int(f.read().split()[1]) * resource.getpagesize() / 2 ** 20
            first = first or last
            peak = max(peak, last)
    emit(workload='memory', size=f'{steps} MLP steps', value=peak, low=first, high=last, unit='MB', higherIsBetter=False, note=f'peak RSS; first {first:.0f}, last {last:.0f} MB')


for name, fn in (('matmul', bench_matmul), ('relu', bench_relu), ('elementwise', bench_elementwise), ('mlp', bench_mlp), ('conv', bench_conv), ('overhead', bench_overhead), ('memory', bench_memory)):
    guarded(name, fn)
