"""The checks that need several processes, run as ``mpiexec -n 2 python distributed_checks.py``.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Launched by ``test_distributed.py`` (not collected by pytest itself: the name has no ``test_``).
``all`` runs every check and exits 0 only if all pass; an uncaught exception on any rank aborts
the job (``init(abort_on_error=True)``), so a failure on one rank fails the whole run.
``raise`` and ``hang`` are the failure drills: one rank fails, and the other must stop with a
clear error within its deadline instead of waiting forever.

    mpiexec -n 2 python distributed_checks.py all TMPDIR
    mpiexec -n 2 python distributed_checks.py raise
    mpiexec -n 2 python distributed_checks.py hang
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, distributed, optim
from scratchcore.distributed import DataParallel, DistributedSampler, SyncBatchNorm

# Two ranks of B/2 against one of B, float64: the averaged gradient differs from the one-process
# gradient only in the order of a few additions (~1e-16 relative), and k = 5 steps of a small
# network amplify that a little; 1e-12 is far above rounding and far below any real mistake.
TOL = 1e-12


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def say(group, text: str) -> None:
    if group.rank == 0:
        print(text, flush=True)


def check_ring(group) -> None:
    """ring_allreduce equals the library's Allreduce, float32 and float64, awkward sizes too."""
    from mpi4py import MPI

    rng = np.random.default_rng(100 + group.rank)
    for dtype in (np.float32, np.float64):
        for shape in [(1,), (2,), (3,), (7,), (64,), (1001,), (5, 3, 7), (0,)]:
            x = rng.standard_normal(shape).astype(dtype)
            ring = distributed.ring_allreduce(x, group.comm)
            library = np.empty_like(x)
            group.comm.Allreduce(x, library, op=MPI.SUM)
            reference = distributed.allreduce_reference(x, group.comm)
            check(ring.shape == x.shape and ring.dtype == x.dtype, f"ring: shape/dtype {shape}")
            if group.size == 2:  # one addition per element: a + b == b + a exactly
                check(np.array_equal(ring, library), f"ring != Allreduce for {dtype} {shape}")
            else:
                rtol = 1e-5 if dtype == np.float32 else 1e-12
                check(np.allclose(ring, library, rtol=rtol, atol=rtol), f"ring {dtype} {shape}")
            check(np.allclose(reference, library), f"reference != Allreduce {dtype} {shape}")
    say(group, "ring_allreduce == Allreduce: ok")


def make_mlp(seed: int, batchnorm=None) -> nn.Module:
    rng = np.random.default_rng(seed)
    layers = [nn.Linear(6, 8, dtype=np.float64, rng=rng)]
    if batchnorm is not None:
        layers.append(batchnorm(8, dtype=np.float64))
    layers += [nn.Tanh(), nn.Linear(8, 3, dtype=np.float64, rng=rng)]
    return nn.Sequential(*layers)


def data(n: int = 12):
    rng = np.random.default_rng(7)
    return rng.standard_normal((n, 6)), rng.standard_normal((n, 3))


def step(model, optimizer, x, y, dp=None) -> None:
    optimizer.zero_grad()
    loss = F.mse_loss(model(Tensor(x)), y)
    loss.backward()
    if dp is not None:
        check(dp._next == len(dp._buckets), "every bucket should have started during backward")
        dp.finish()
    optimizer.step()


def train_dp(group, make_optimizer, steps, bucket_bytes, batchnorm=None, seed=None):
    """``steps`` steps on rank-sharded batches: rank r takes rows r::P of each batch."""
    x, y = data()
    model = make_mlp(seed if seed is not None else 1000 + group.rank, batchnorm)
    dp = DataParallel(model, bucket_bytes=bucket_bytes)  # broadcasts rank 0's parameters
    optimizer = make_optimizer(model.parameters())
    for k in range(steps):
        rows = np.roll(np.arange(len(x)), k)[group.rank :: group.size]
        step(dp, optimizer, x[rows], y[rows], dp)
    return model


def train_single(make_optimizer, steps, seed, batchnorm=None):
    x, y = data()
    model = make_mlp(seed, batchnorm)
    optimizer = make_optimizer(model.parameters())
    for k in range(steps):
        rows = np.roll(np.arange(len(x)), k)
        # the same rows as the ranks together, in rank order (BatchNorm sees the same set)
        rows = np.concatenate([rows[r::2] for r in range(2)])
        step(model, optimizer, x[rows], y[rows])
    return model


def max_diff(a: nn.Module, b: nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max(float(np.max(np.abs(sa[k] - sb[k]), initial=0.0)) for k in sa)


def check_data_parallel(group) -> None:
    """Two ranks of B/2 == one rank of B after k steps, for SGD (momentum) and AdamW."""
    optimizers = {
        "SGD": lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
        "AdamW": lambda p: optim.AdamW(p, lr=0.01, weight_decay=0.1),
    }
    for name, make in optimizers.items():
        for bucket_bytes in (64, 1 << 20):  # several buckets; one bucket
            ranks = train_dp(group, make, steps=5, bucket_bytes=bucket_bytes)
            single = train_single(make, steps=5, seed=1000)  # rank 0's initial model
            diff = max_diff(ranks, single)
            check(
                diff <= TOL, f"DataParallel {name} bucket_bytes={bucket_bytes}: off by {diff:.3g}"
            )
            check(max_diff(ranks, make_mlp(1000)) > 1e-3, f"{name}: the model did not train")
            say(group, f"DataParallel {name} bucket_bytes={bucket_bytes}: max diff {diff:.2g}")


def check_broadcast(group) -> None:
    """Differently seeded ranks are equal after broadcast_parameters (parameters and buffers)."""
    model = make_mlp(500 + group.rank, nn.BatchNorm1d)
    model[1].running_mean[:] = group.rank + 1.0
    model[1].num_batches_tracked[...] = 3 + group.rank
    mine = model.state_dict()
    distributed.broadcast_parameters(model, root=1)
    theirs = model.state_dict()
    gathered = group.comm.allgather(theirs)
    for other in gathered:
        for key in theirs:
            check(np.array_equal(other[key], theirs[key]), f"broadcast: {key} differs across ranks")
    if group.rank == 1:
        check(all(np.array_equal(mine[k], theirs[k]) for k in mine), "broadcast changed the root")
    else:
        check(not np.array_equal(mine["0.weight"], theirs["0.weight"]), "broadcast did nothing")
    check(int(model[1].num_batches_tracked) == 4, "broadcast: 0-d int buffer not copied")
    say(group, "broadcast_parameters: ok")


def check_sampler(group) -> None:
    """The ranks' shards are disjoint (drop) or cover everything (pad), the same size."""
    for n in (10, 11, 13, 1):
        for drop_last in (False, True):
            if drop_last and n < group.size:
                continue
            sampler = DistributedSampler(n, group.size, group.rank, seed=3, drop_last=drop_last)
            for epoch in (0, 1):
                mine = sampler.indices(epoch)
                shards = group.comm.allgather(mine)
                check(len({len(s) for s in shards}) == 1, f"sampler n={n}: uneven shards")
                everything = np.concatenate(shards)
                if drop_last:
                    check(len(set(everything)) == len(everything), f"sampler n={n}: overlap")
                    check(len(everything) == n - n % group.size, f"sampler n={n}: drop count")
                else:
                    check(set(everything) == set(range(n)), f"sampler n={n}: not covering")
                    check(len(everything) - n < group.size, f"sampler n={n}: too much padding")
                    if n % group.size == 0:
                        check(len(set(everything)) == n, f"sampler n={n}: overlap")
            e0, e1 = sampler.indices(0), sampler.indices(1)
            check(n < 4 or not np.array_equal(e0, e1), "sampler: same shard in two epochs")
    say(group, "DistributedSampler: ok")


def check_sync_batchnorm(group) -> None:
    """SyncBatchNorm on two halves == BatchNorm on the whole batch: output, gradients, stats."""
    rng = np.random.default_rng(11)
    x_full = rng.standard_normal((8, 4, 3)) * 2 + 1
    w_out = rng.standard_normal((8, 4, 3))
    rows = slice(group.rank * 4, group.rank * 4 + 4)

    full = nn.BatchNorm1d(4, dtype=np.float64)
    full.weight.data = rng.standard_normal(4)
    full.bias.data = rng.standard_normal(4)
    sync = SyncBatchNorm(4, dtype=np.float64)
    sync.load_state_dict(full.state_dict())

    xf = Tensor(x_full, requires_grad=True)
    (full(xf) * w_out).sum().backward()
    xs = Tensor(x_full[rows], requires_grad=True)
    ys = sync(xs)
    (ys * w_out[rows]).sum().backward()
    # the global loss is the sum of the ranks' losses: x's gradient is local, the parameters'
    # are sums over ranks
    weight_grad = distributed.allreduce_(sync.weight.grad.copy(), group)
    bias_grad = distributed.allreduce_(sync.bias.grad.copy(), group)
    with_full = full(Tensor(x_full)).data  # (a second forward: the running stats move again)
    sync(Tensor(x_full[rows]))
    checks = {
        "output": (ys.data, with_full[rows]),
        "x grad": (xs.grad, xf.grad[rows]),
        "weight grad": (weight_grad, full.weight.grad),
        "bias grad": (bias_grad, full.bias.grad),
        "running_mean": (sync.running_mean, full.running_mean),
        "running_var": (sync.running_var, full.running_var),
    }
    for what, (got, want) in checks.items():
        diff = float(np.max(np.abs(got - want)))
        check(diff <= TOL, f"SyncBatchNorm {what}: off by {diff:.3g}")
    sync.eval()
    full.eval()
    check(np.allclose(sync(Tensor(x_full)).data, full(Tensor(x_full)).data, atol=TOL), "eval")

    # and inside DataParallel: k SGD steps with SyncBatchNorm on two ranks == BatchNorm on one
    make = lambda p: optim.SGD(p, lr=0.1, momentum=0.9)  # noqa: E731
    ranks = train_dp(group, make, steps=4, bucket_bytes=128, batchnorm=SyncBatchNorm)
    single = train_single(make, steps=4, seed=1000, batchnorm=nn.BatchNorm1d)
    diff = max_diff(ranks, single)
    check(diff <= TOL, f"SyncBatchNorm in DataParallel: off by {diff:.3g}")
    # the default, BatchNorm with each rank's own statistics, is a different computation
    local = train_dp(group, make, steps=4, bucket_bytes=128, batchnorm=nn.BatchNorm1d)
    check(max_diff(local, single) > 1e-6, "local BatchNorm should differ from full-batch")
    say(group, f"SyncBatchNorm == full-batch BatchNorm: ok (training run max diff {diff:.2g})")


def check_checkpoint(group, directory: Path) -> None:
    """Stop after 3 steps, save (rank 0), load on both ranks into fresh models, go on: the same
    parameters as 6 uninterrupted steps, bit for bit."""
    from scratchcore.train.checkpoint import load_checkpoint, save_checkpoint

    x, y = data(16)
    sampler = DistributedSampler(len(x), group.size, group.rank, seed=5)
    path = directory / "dp.safetensors"

    def run(model, optimizer, dp, steps, first_step=0):
        for s in range(first_step, first_step + steps):
            rows = sampler.indices(epoch=s)  # one "epoch" of 8 per rank per step, for the test
            step(dp, optimizer, x[rows], y[rows], dp)

    make = lambda p: optim.AdamW(p, lr=0.01)  # noqa: E731
    straight = make_mlp(1000 + group.rank)
    dp = DataParallel(straight, bucket_bytes=64)
    opt = make(straight.parameters())
    run(straight, opt, dp, 6)

    first = make_mlp(2000 + group.rank)
    dp = DataParallel(first, bucket_bytes=64)
    opt = make(first.parameters())
    # the broadcast made every rank rank 0's seed-2000 model; restart from seed 1000 as above
    first.load_state_dict(make_mlp(1000).state_dict())
    run(first, opt, dp, 3)
    if group.rank == 0:
        save_checkpoint(path, first, opt, extra={"step": 3})
    group.barrier()

    resumed = make_mlp(3000 + group.rank)
    opt = make(resumed.parameters())
    extra = load_checkpoint(path, resumed, opt)
    dp = DataParallel(resumed, bucket_bytes=64)
    run(resumed, opt, dp, 3, first_step=extra["step"])
    diff = max_diff(resumed, straight)
    check(diff == 0.0, f"checkpoint resume with {group.size} ranks: off by {diff:.3g}")
    say(group, "checkpoint/resume with DataParallel: ok (bitwise)")


def drill(group, mode: str) -> None:
    """One rank fails; the other is in DataParallel.finish() and must not hang."""
    model = make_mlp(1)
    dp = DataParallel(model)
    loss = F.mse_loss(dp(Tensor(data()[0])), data()[1])
    if group.rank == 1:
        if mode == "raise":
            raise RuntimeError("deliberate failure on rank 1 (the failure drill)")
        time.sleep(120)  # "hang": stuck, never reaches the collective
    loss.backward()
    dp.finish()
    raise AssertionError("unreachable: rank 0 finished a collective that rank 1 never joined")


def check_world_of_one() -> None:
    """Without mpiexec: rank 0 of 1; DataParallel is the plain module; SyncBatchNorm is
    BatchNorm; a second backward before finish() is an error."""
    group = distributed.init()
    check((group.rank, group.size) == (0, 1), f"world of one: got {group}")
    check(distributed.get_rank() == 0 and distributed.get_world_size() == 1, "get_rank/size")
    x = np.arange(7.0)
    check(np.array_equal(distributed.ring_allreduce(x, group.comm), x), "ring on one rank")

    rng = np.random.default_rng(0)
    inputs, targets = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    plain = nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(1))
    wrapped = DataParallel(
        nn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(1)), bucket_bytes=8
    )
    for model in (plain, wrapped):
        F.mse_loss(model(Tensor(inputs)), targets).backward()
    wrapped.finish()
    check(np.array_equal(wrapped.module.weight.grad, plain.weight.grad), "DP(1) weight grad")
    check(np.array_equal(wrapped.module.bias.grad, plain.bias.grad), "DP(1) bias grad")
    try:
        for _ in range(2):
            F.mse_loss(wrapped(Tensor(inputs)), targets).backward()
        raise AssertionError("a second backward before finish() should raise")
    except RuntimeError as error:
        check("second backward pass before finish" in str(error), f"message: {error}")

    x = rng.standard_normal((5, 3, 4))
    bn, sync = nn.BatchNorm1d(3, dtype=np.float64), SyncBatchNorm(3, dtype=np.float64)
    xa, xb = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    w = rng.standard_normal(x.shape)
    (bn(xa) * w).sum().backward()
    (sync(xb) * w).sum().backward()
    check(np.allclose(xb.grad, xa.grad, rtol=0, atol=TOL), "SyncBatchNorm(1) x grad")
    check(np.allclose(sync.weight.grad, bn.weight.grad, rtol=0, atol=TOL), "weight grad")
    check(np.allclose(sync.running_var, bn.running_var, rtol=0, atol=TOL), "running_var")
    try:
        sync(Tensor(np.ones((2, 4))))
        raise AssertionError("a wrong channel count should raise")
    except ValueError as error:
        check("SyncBatchNorm: expected an input" in str(error), f"message: {error}")
    model = SyncBatchNorm.convert(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    check(isinstance(model[1], SyncBatchNorm), "SyncBatchNorm.convert")
    print("world of one: ok", flush=True)


def main() -> None:
    mode = sys.argv[1]
    if mode == "single":
        check_world_of_one()
        return
    timeout = 3.0 if mode == "hang" else 60.0
    group = distributed.init(timeout=timeout)
    check(group.size >= 2, f"run under mpiexec -n 2 (world size is {group.size})")
    if mode in ("raise", "hang"):
        drill(group, mode)
        return
    started = time.perf_counter()
    check_ring(group)
    check_broadcast(group)
    check_sampler(group)
    check_data_parallel(group)
    check_sync_batchnorm(group)
    check_checkpoint(group, Path(sys.argv[2]))
    group.barrier()
    say(group, f"all distributed checks passed in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
