"""Checkpoints: exact round trips through safetensors; a resumed run equals an unbroken one."""

import json
import struct

import numpy as np
import pytest

from scratchcore import Tensor
from scratchcore.train import (
    load_checkpoint,
    read_checkpoint,
    rng_states,
    save_checkpoint,
    seed_everything,
    set_rng_states,
)


class FakeModel:
    """Just the state-dict protocol: name -> array, restored by copying into existing arrays."""

    def __init__(self, arrays):
        self.arrays = arrays

    def state_dict(self):
        return {name: a.copy() for name, a in self.arrays.items()}

    def load_state_dict(self, state):
        assert list(state) == list(self.arrays), "names and order must survive the round trip"
        for name, a in state.items():
            self.arrays[name] = a.copy()


class FakeOptimizer:
    """torch's optimizer layout: int-keyed state, groups of hyperparameters and indices."""

    def __init__(self, state_dict):
        self.saved = state_dict

    def state_dict(self):
        return self.saved

    def load_state_dict(self, state_dict):
        self.saved = state_dict


def _assert_identical(actual, expected, where="value"):
    """Equal values *and* equal types (int stays int, tuple stays tuple, dtypes and bits match)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} != {type(expected)}"
    if isinstance(expected, np.ndarray | np.generic):
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert np.asarray(actual).tobytes() == np.asarray(expected).tobytes(), where
    elif isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for k in expected:
            _assert_identical(actual[k], expected[k], f"{where}[{k!r}]")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_identical(a, e, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(actual), where
    else:
        assert actual == expected, where


def _model_arrays(rng):
    return {
        "0.weight": rng.standard_normal((4, 3)).astype(np.float32),
        "0.bias": rng.standard_normal(4).astype(np.float32),
        "bn.running_mean": rng.standard_normal(4),  # float64
        "bn.num_batches_tracked": np.array(17, dtype=np.int64),  # 0-d
        "mask": np.array([True, False, True]),
        "empty": np.zeros((0, 2), dtype=np.float32),
        "transposed": np.asfortranarray(rng.standard_normal((3, 2))),
    }


def _optimizer_state(rng):
    return {
        "state": {
            0: {"step": 5, "exp_avg": rng.standard_normal((4, 3)).astype(np.float32)},
            2: {"momentum_buffer": rng.standard_normal(4), "scale": np.float32(0.1)},
        },
        "param_groups": [
            {
                "lr": 0.001,
                "betas": (0.9, 0.999),
                "eps": 1e-8,
                "weight_decay": 0,
                "amsgrad": False,
                "foreach": None,
                "params": [0, 1],
            },
            {
                "lr": 1.0,
                "betas": (0.5, 0.5),
                "eps": 1e-8,
                "weight_decay": 0.01,
                "amsgrad": True,
                "foreach": None,
                "params": [2],
            },
        ],
    }


def test_round_trip_is_exact_for_arrays_scalars_and_structure(tmp_path):
    rng = np.random.default_rng(0)
    arrays = _model_arrays(rng)
    arrays["0.bias"][1] = np.float32("nan")  # a NaN's bits must survive too
    model, optimizer = FakeModel(arrays), FakeOptimizer(_optimizer_state(rng))
    generator = np.random.default_rng(42)
    generator.standard_normal(5)
    extra = {
        "step": 1200,
        "epoch": 3,
        "best_val_loss": 0.1 + 0.2,  # a float whose shortest repr has 17 digits
        "diverged_loss": float("nan"),
        "bounds": (float("-inf"), float("inf")),
        "note": "after warm-up",
        "rng": generator.bit_generator.state,  # 128-bit ints in there
        "history": [1, 2.0, None, True],
    }
    expected_model = model.state_dict()
    expected_optim = optimizer.state_dict()
    path = save_checkpoint(tmp_path / "run" / "ckpt.safetensors", model, optimizer, extra)

    fresh_model = FakeModel({name: np.zeros(1) for name in arrays})
    fresh_optim = FakeOptimizer(None)
    loaded_extra = load_checkpoint(path, fresh_model, fresh_optim)
    _assert_identical(fresh_model.arrays, expected_model, "model")
    _assert_identical(fresh_optim.saved, expected_optim, "optim")
    _assert_identical(loaded_extra, extra, "extra")

    # The restored generator continues exactly where the saved one stopped.
    resumed = np.random.default_rng(0)
    resumed.bit_generator.state = loaded_extra["rng"]
    assert np.array_equal(resumed.standard_normal(4), generator.standard_normal(4))


def test_file_is_plain_safetensors_with_readable_keys(tmp_path):
    rng = np.random.default_rng(1)
    path = save_checkpoint(
        tmp_path / "c.safetensors",
        FakeModel(_model_arrays(rng)),
        FakeOptimizer(_optimizer_state(rng)),
        extra={"step": 1},
    )
    raw = path.read_bytes()
    # safetensors: 8-byte little-endian header length, then a JSON header; nothing executable.
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    metadata = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["format"] == "scratchmind-checkpoint"
    assert header["model/0.weight"]["dtype"] == "F32" and header["model/0.weight"]["shape"] == [
        4,
        3,
    ]
    assert header["optim/state/0/exp_avg"]["shape"] == [4, 3]
    assert header["optim/state/2/momentum_buffer"]["dtype"] == "F64"
    assert json.loads(metadata["extra"]) == {"dict": [["step", 1]]}
    assert not (tmp_path / "c.safetensors.partial").exists()


def test_global_rng_states_round_trip(tmp_path):
    seed_everything(3)
    np.random.rand(7)  # noqa: NPY002 — move the legacy generator away from its seed
    path = save_checkpoint(tmp_path / "c.safetensors", FakeModel({}), extra=rng_states())
    expected = rng_states()
    seed_everything(99)
    set_rng_states(read_checkpoint(path)["extra"])
    _assert_identical(rng_states(), expected, "rng_states")


def test_load_errors_are_clear(tmp_path):
    model = FakeModel({"w": np.ones(2)})
    path = save_checkpoint(tmp_path / "c.safetensors", model)  # no optimizer
    assert read_checkpoint(path)["optim"] is None
    assert load_checkpoint(path, model) is None  # extra defaults to None
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(path, model, FakeOptimizer(None))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors", model)

    from safetensors.numpy import save_file

    save_file({"w": np.ones(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="not a ScratchMind checkpoint"):
        load_checkpoint(tmp_path / "other.safetensors", model)


class RawState:
    """A model whose state dict is whatever it is given, to feed the saver bad input."""

    def __init__(self, state):
        self.state = state

    def state_dict(self):
        return self.state


def test_save_rejects_what_it_cannot_store_exactly(tmp_path):
    with pytest.raises(TypeError, match=r"model/w is a Tensor.*\.data"):
        save_checkpoint(tmp_path / "a.safetensors", RawState({"w": Tensor(np.ones(2))}))
    with pytest.raises(TypeError, match="extra/when is a object"):
        save_checkpoint(tmp_path / "b.safetensors", RawState({}), extra={"when": object()})
    with pytest.raises(TypeError, match="model/names has dtype <U1"):
        save_checkpoint(tmp_path / "c.safetensors", RawState({"names": np.array(["a", "b"])}))
    with pytest.raises(ValueError, match="tensor key 'model/a/b'"):
        save_checkpoint(
            tmp_path / "d.safetensors", RawState({"a/b": np.ones(1), "a": {"b": np.ones(1)}})
        )
    assert not list(tmp_path.iterdir())  # nothing half-written


# --- resuming a real run -----------------------------------------------------------------------

RESUME_STEPS_BEFORE, RESUME_STEPS_AFTER = 4, 6


def _make_run(optimizer_name):
    """A small MLP with dropout (which draws from scratchcore's default generator) and its
    optimizer; built from whatever the global generators hold at the time."""
    import scratchcore.nn as nn
    import scratchcore.optim as optim

    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Dropout(0.25), nn.Linear(16, 3))
    if optimizer_name == "sgd":
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    else:
        optimizer = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.99), amsgrad=True)
    return model, optimizer


def _train(model, optimizer, rng, steps):
    """``steps`` minibatch updates; the batch is chosen with ``rng``, so its state matters."""
    import scratchcore.nn.functional as F

    data = np.random.default_rng(1234)  # fixed data set, independent of the run's generators
    x = data.standard_normal((64, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    model.train()
    for _ in range(steps):
        batch = rng.choice(64, size=16, replace=False)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(Tensor(x[batch])), y[batch])
        loss.backward()
        optimizer.step()


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_resumed_run_is_bitwise_identical_to_an_uninterrupted_run(tmp_path, optimizer_name):
    rng = seed_everything(0)
    model, optimizer = _make_run(optimizer_name)
    _train(model, optimizer, rng, RESUME_STEPS_BEFORE)
    path = save_checkpoint(
        tmp_path / "ckpt.safetensors",
        model,
        optimizer,
        extra={"step": RESUME_STEPS_BEFORE, "rng": rng.bit_generator.state, "global": rng_states()},
    )
    _train(model, optimizer, rng, RESUME_STEPS_AFTER)
    uninterrupted = model.state_dict()

    def resume(load_optimizer=True, restore_global_rngs=True):
        seed_everything(1)  # fresh objects start from different weights and generator states
        fresh_model, fresh_optimizer = _make_run(optimizer_name)
        extra = load_checkpoint(path, fresh_model, fresh_optimizer if load_optimizer else None)
        fresh_rng = np.random.default_rng()
        fresh_rng.bit_generator.state = extra["rng"]
        if restore_global_rngs:
            set_rng_states(extra["global"])
        assert extra["step"] == RESUME_STEPS_BEFORE
        _train(fresh_model, fresh_optimizer, fresh_rng, RESUME_STEPS_AFTER)
        return fresh_model.state_dict()

    resumed = resume()
    assert list(resumed) == list(uninterrupted)
    for name in uninterrupted:
        assert resumed[name].dtype == uninterrupted[name].dtype, name
        assert np.array_equal(resumed[name], uninterrupted[name]), name
    # The controls: without the optimizer's buffers, or without the generator that draws the
    # dropout masks, the run goes somewhere else — the check above is sensitive to both.
    for control in (resume(load_optimizer=False), resume(restore_global_rngs=False)):
        assert not all(np.array_equal(control[n], uninterrupted[n]) for n in uninterrupted)
