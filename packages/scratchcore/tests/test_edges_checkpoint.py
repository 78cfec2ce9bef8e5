"""Checkpoints and the loader at the edges: an all-or-nothing load, and an exact mid-epoch resume.

A failed ``load_checkpoint`` must leave the model, the optimizer and the loader bit for bit as
they were; a ``DataLoader`` restored from ``state_dict()`` (directly or through a checkpoint)
must yield exactly the batches the uninterrupted run would have seen, from the middle of an epoch
on.
"""

import numpy as np
import pytest

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.train import CheckpointError, load_checkpoint, save_checkpoint


def _model_and_optimizer(seed, kind="adam"):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(3, 4, rng=rng), nn.ReLU(), nn.Linear(4, 2, rng=rng))
    if kind == "adam":
        optimizer = optim.Adam(model.parameters(), lr=0.01)
    else:
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = Tensor(rng.standard_normal((5, 3)).astype(np.float32))
    y = rng.integers(0, 2, 5)
    for _ in range(2):  # so the optimizer has state to lose
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model, optimizer


def _snapshot(model, optimizer, loader=None):
    """Everything a load could change, as bytes (so NaNs and -0.0 compare exactly)."""
    params = [(n, p.data.dtype, p.data.tobytes(), p._version) for n, p in model.named_parameters()]
    state = [
        (id(p), sorted((k, np.asarray(v).tobytes()) for k, v in s.items()))
        for p, s in optimizer.state.items()
    ]
    groups = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    return params, state, groups, (loader.state_dict() if loader is not None else None)


class _Saved:
    """Stands in for a model or optimizer at save time: its state dict is whatever it is given."""

    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state


def _tampered(tmp_path, name, *, model=None, optim_state=None, loader_state=None):
    source_model, source_optimizer = _model_and_optimizer(0)
    model_state = source_model.state_dict() if model is None else model
    optim_state = source_optimizer.state_dict() if optim_state is None else optim_state
    # (``loader=`` only when there is one, so the model/optimizer cases run on any saver)
    loader = {"loader": _Saved(loader_state)} if loader_state is not None else {}
    return save_checkpoint(
        tmp_path / name, _Saved(model_state), _Saved(optim_state), extra={"step": 2}, **loader
    )


def _wrong_optimizer_shape():
    _, optimizer = _model_and_optimizer(0)
    state = optimizer.state_dict()
    state["state"][2]["exp_avg"] = np.zeros((2, 5), np.float32)  # the weight is (2, 4)
    return state


def _wrong_optimizer_index():
    _, optimizer = _model_and_optimizer(0)
    state = optimizer.state_dict()
    state["state"][7] = state["state"].pop(3)  # there is no parameter 7
    return state


def _optimizer_string_state():
    _, optimizer = _model_and_optimizer(0)
    state = optimizer.state_dict()
    state["state"][0]["step"] = "three"
    return state


def _wrong_model_dtype():
    model, _ = _model_and_optimizer(0)
    state = model.state_dict()
    state["0.bias"] = state["0.bias"].astype(np.complex64)  # a complex into a float parameter
    return state


def _wrong_model_shape():
    model, _ = _model_and_optimizer(0)
    state = model.state_dict()
    state["2.weight"] = np.zeros((3, 4), np.float32)
    return state


def _loader_state(**changes):
    loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=3, shuffle=True, seed=1)
    return {**loader.state_dict(), **changes}


# Each case builds the keyword arguments of ``_tampered`` when the test runs (not at collection).
ATOMIC_CASES = {
    "optimizer state of the wrong shape": lambda: dict(optim_state=_wrong_optimizer_shape()),
    "optimizer state for a parameter that does not exist": lambda: dict(
        optim_state=_wrong_optimizer_index()
    ),
    "optimizer step that is not a number": lambda: dict(optim_state=_optimizer_string_state()),
    "model tensor of a complex dtype": lambda: dict(model=_wrong_model_dtype()),
    "model tensor of the wrong shape": lambda: dict(model=_wrong_model_shape()),
    "loader with another batch size": lambda: dict(loader_state=_loader_state(batch_size=4)),
    "loader past the end of its epoch": lambda: dict(loader_state=_loader_state(position=9)),
}


@pytest.mark.parametrize("case", ATOMIC_CASES)
def test_failed_load_leaves_model_optimizer_and_loader_untouched(tmp_path, case):
    kwargs = ATOMIC_CASES[case]()
    path = _tampered(tmp_path, "bad.safetensors", **kwargs)
    model, optimizer = _model_and_optimizer(5)  # different weights and state from the file's
    use_loader = "loader_state" in kwargs
    loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=3, shuffle=True, seed=9)
    next(iter(loader))
    if not use_loader:
        loader = None  # (the model and optimizer cases need nothing of the loader)
    before = _snapshot(model, optimizer, loader)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model, optimizer, **({"loader": loader} if use_loader else {}))
    assert _snapshot(model, optimizer, loader) == before
    assert str(path) in str(info.value)


def test_optimizer_load_state_dict_alone_is_all_or_nothing():
    model, optimizer = _model_and_optimizer(5, kind="sgd")
    before = _snapshot(model, optimizer)
    bad = optimizer.state_dict()
    bad["param_groups"][0]["lr"] = 123.0
    bad["state"][3]["momentum_buffer"] = np.zeros(7)  # the last parameter's shape is (2,)
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(7,\).*\(2,\)"):
        optimizer.load_state_dict(bad)
    assert _snapshot(model, optimizer) == before  # neither state nor lr changed


def test_module_load_state_dict_alone_is_all_or_nothing():
    model, optimizer = _model_and_optimizer(5)
    before = _snapshot(model, optimizer)
    state = {name: np.zeros_like(a) for name, a in model.state_dict().items()}
    state["2.bias"] = np.array(["a", "b"])  # the last entry is not numbers
    with pytest.raises(TypeError, match=r"'2\.bias' has dtype <U1"):
        model.load_state_dict(state)
    assert _snapshot(model, optimizer) == before


def test_good_load_still_restores_everything(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=3, shuffle=True, seed=4)
    iterator = iter(loader)
    next(iterator)
    path = save_checkpoint(tmp_path / "ok.safetensors", model, optimizer, {"s": 1}, loader=loader)
    fresh_model, fresh_optimizer = _model_and_optimizer(3)
    fresh_loader = DataLoader(ArrayDataset(np.arange(10)), batch_size=3, shuffle=True)
    assert load_checkpoint(path, fresh_model, fresh_optimizer, loader=fresh_loader) == {"s": 1}
    ours, theirs = _snapshot(model, optimizer, loader), _snapshot(fresh_model, fresh_optimizer)
    assert [p[:3] for p in ours[0]] == [p[:3] for p in theirs[0]]
    assert [s for _, s in ours[1]] == [s for _, s in theirs[1]]
    assert fresh_loader.state_dict() == loader.state_dict()


def test_loader_requested_from_a_checkpoint_without_one(tmp_path):
    model, optimizer = _model_and_optimizer(0)
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizer)
    loader = DataLoader(ArrayDataset(np.arange(4)), batch_size=2)
    with pytest.raises(CheckpointError, match="no loader state"):
        load_checkpoint(path, model, optimizer, loader=loader)


# --- exact resume in the middle of an epoch ----------------------------------------------------


def _batches_as_bytes(batches):
    return [tuple((b.dtype.str, b.shape, b.tobytes()) for b in batch) for batch in batches]


def _settings(rng):
    n = int(rng.integers(1, 24))
    return dict(
        n=n,
        batch_size=int(rng.integers(1, 8)),
        drop_last=bool(rng.integers(2)),
        shuffle=bool(rng.integers(2)),
        seed=int(rng.integers(2**62)),
    )


def _loader(settings, seed="given"):
    data = ArrayDataset(
        np.arange(settings["n"], dtype=np.float32) * 1.5, np.arange(settings["n"]) % 3
    )
    return DataLoader(
        data,
        batch_size=settings["batch_size"],
        shuffle=settings["shuffle"],
        drop_last=settings["drop_last"],
        seed=settings["seed"] if seed == "given" else None,
    )


@pytest.mark.parametrize("trial", range(40))
@pytest.mark.parametrize("through", ["state_dict", "checkpoint"])
def test_resume_mid_epoch_gives_exactly_the_remaining_batches(tmp_path, trial, through):
    rng = np.random.default_rng(trial)
    settings = _settings(rng)
    n_epochs = int(rng.integers(1, 5))
    stop_epoch = int(rng.integers(0, n_epochs))

    reference_loader = _loader(settings)
    uninterrupted = []
    for _ in range(n_epochs):
        uninterrupted.append(_batches_as_bytes(reference_loader))

    # The interrupted run: whole epochs, then k batches of epoch ``stop_epoch``, then "kill -9".
    loader = _loader(settings)
    seen = []
    for _ in range(stop_epoch):
        seen.append(_batches_as_bytes(loader))
    k = int(rng.integers(0, len(loader) + 1))
    iterator = iter(loader)
    seen.append(_batches_as_bytes(next(iterator) for _ in range(k)))
    state = loader.state_dict()
    assert (state["epoch"], state["position"]) == (stop_epoch, k)

    fresh = _loader(settings, seed=None)  # a fresh process: its own, different seed
    if through == "checkpoint":
        model = nn.Linear(2, 1)
        path = save_checkpoint(tmp_path / "c.safetensors", model, loader=loader)
        load_checkpoint(path, model, loader=fresh)
    else:
        fresh.load_state_dict(state)
    assert fresh.state_dict() == state
    resumed_epoch = fresh.state_dict()["epoch"]
    seen[-1] = seen[-1] + _batches_as_bytes(fresh)  # the rest of the interrupted epoch
    for _ in range(resumed_epoch + 1, n_epochs):
        seen.append(_batches_as_bytes(fresh))
    assert seen == uninterrupted


def test_state_dict_between_epochs_and_after_an_abandoned_iterator():
    loader = DataLoader(ArrayDataset(np.arange(7)), batch_size=2, shuffle=True, seed=3)
    assert loader.state_dict()["epoch"] == 0 and loader.state_dict()["position"] == 0
    list(loader)
    assert (loader.state_dict()["epoch"], loader.state_dict()["position"]) == (1, 0)
    old = iter(loader)
    next(old)
    new = iter(loader)  # epoch 2 starts; the abandoned epoch-1 iterator must not count
    next(new)
    next(old)
    assert (loader.state_dict()["epoch"], loader.state_dict()["position"]) == (2, 1)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"batch_size": 5}, "batch_size: saved 5, here 2"),
        ({"shuffle": False}, "shuffle: saved False"),
        ({"drop_last": True}, "drop_last: saved True"),
        ({"num_examples": 8}, "num_examples: saved 8, here 7"),
        ({"position": 5}, "position 5 is past the 4 batches"),
        ({"position": -1}, "position must be a non-negative int"),
        ({"epoch": 1.5}, "epoch must be a non-negative int"),
        ({"shuffle": "yes"}, "shuffle must be a bool"),
    ],
)
def test_loader_load_state_dict_refuses_a_state_that_does_not_fit(change, pattern):
    loader = DataLoader(ArrayDataset(np.arange(7)), batch_size=2, shuffle=True, seed=3)
    state = {**loader.state_dict(), **change}
    fresh = DataLoader(ArrayDataset(np.arange(7)), batch_size=2, shuffle=True, seed=8)
    with pytest.raises(ValueError, match=pattern):
        fresh.load_state_dict(state)
    assert fresh.seed == 8 and fresh.state_dict()["epoch"] == 0  # untouched


def test_failed_save_leaves_neither_a_partial_file_nor_a_changed_checkpoint(tmp_path, monkeypatch):
    import scratchcore.train.checkpoint as checkpoint_module

    model, _ = _model_and_optimizer(0)
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    before = path.read_bytes()

    def interrupted(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_module.os, "replace", interrupted)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _model_and_optimizer(1)[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]
    assert path.read_bytes() == before


@pytest.mark.parametrize(("stop_epoch", "k"), [(0, 3), (1, 1), (1, 5), (2, 7), (2, 8)])
def test_training_resumed_mid_epoch_ends_bit_identical(tmp_path, stop_epoch, k):
    """A whole loop — model, optimizer, loader — checkpointed after ``k`` batches of epoch
    ``stop_epoch`` (8 batches per epoch) and resumed in fresh objects ends with exactly the
    uninterrupted weights; resuming at the start of that epoch instead does not."""
    data_rng = np.random.default_rng(7)
    X = data_rng.standard_normal((29, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    n_epochs = 3

    def make(seed):
        model, optimizer = _model_and_optimizer(seed)
        loader = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=seed + 100)
        return model, optimizer, loader

    def step(model, optimizer, batch):
        optimizer.zero_grad()
        F.cross_entropy(model(Tensor(batch[0])), batch[1]).backward()
        optimizer.step()

    def finish(model, optimizer, loader):
        for _ in range(loader.state_dict()["epoch"], n_epochs):
            for batch in loader:
                step(model, optimizer, batch)
        return model.state_dict()

    uninterrupted = finish(*make(0))

    model, optimizer, loader = make(0)
    path = tmp_path / "run.safetensors"
    for _ in range(stop_epoch):
        for batch in loader:
            step(model, optimizer, batch)
    for _, batch in zip(range(k), loader, strict=False):  # k batches, then the process dies
        step(model, optimizer, batch)
    save_checkpoint(path, model, optimizer, loader=loader)

    fresh = make(50)  # a fresh process: other weights, other seed
    load_checkpoint(path, *fresh[:2], loader=fresh[2])
    resumed = finish(*fresh)
    assert all(resumed[n].tobytes() == uninterrupted[n].tobytes() for n in uninterrupted)

    # The control: restarting that epoch from its first batch (all a per-epoch resume could
    # do) trains on k batches twice and ends elsewhere.
    control = make(50)
    load_checkpoint(path, *control[:2])
    control[2].load_state_dict({**loader.state_dict(), "position": 0})
    restarted = finish(*control)
    assert any(restarted[n].tobytes() != uninterrupted[n].tobytes() for n in uninterrupted)
