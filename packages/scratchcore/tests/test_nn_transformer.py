"""PyTorch parity for the Transformer layers, against ``torch.nn.Transformer*`` themselves.

Every comparison copies our weights into torch's through the state dict (the names must match
1:1) and checks, in float64, the output and the gradients of the inputs and of every parameter
(``check_module_parity``: the loss is the sum of the output times a fixed random tensor).
Before that, every parameter is moved off its initial value by its own random amount
(``_perturb``): LayerNorms start at ones and zeros, attention biases at zero, and a stack's
layers as equal copies, so with the initial values a swapped ``norm1``/``norm2``, a missing bias
or two layers applied in the wrong order would compute the same numbers as the right code and
pass. Likewise every mask is one that changes the output (a causal mask, padding of random
length), so a mask that is dropped, inverted or applied to the wrong attention fails.

Dropout is 0 in the parity tests (the two libraries draw different random masks), except
p = 1, which zeroes everything and so is deterministic (``test_each_dropout_...``).
"""

import copy
import warnings

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.testing import assert_close, check_module_parity

ATOL, RTOL = 1e-10, 1e-9
E, HEADS, FFN, LAYERS = 8, 2, 12, 2  # the hand-picked cases' sizes
N, S, T = 3, 5, 4  # batch, source length, target length

# name -> (our activation, torch's): the two strings, and a callable given as a function
ACTIVATIONS = {
    "relu": ("relu", "relu"),
    "gelu": ("gelu", "gelu"),
    "silu (callable)": (F.silu, torch.nn.functional.silu),
}


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    """The reference computations here are tiny: on several threads torch's pool spends longer
    waking its threads than computing (measured on two busy cores: 0.6 s a case, against
    0.04 s on one thread). Restored afterwards for the other test files."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# Building twin models, inputs and masks
# ---------------------------------------------------------------------------------------------


class Call(nn.Module):
    """Our model called with fixed keyword arguments (the masks); names gain ``model.``."""

    def __init__(self, model, **kwargs):
        super().__init__()
        self.model, self.kwargs = model, kwargs

    def forward(self, *inputs):
        return self.model(*inputs, **self.kwargs)


class TorchCall(torch.nn.Module):
    def __init__(self, model, **kwargs):
        super().__init__()
        self.model, self.kwargs = model, kwargs

    def forward(self, *inputs):
        return self.model(*inputs, **self.kwargs)


def _perturb(module, seed):
    """Add independent noise to every parameter (see the module docstring for why)."""
    rng = np.random.default_rng(seed)
    for param in module.parameters():
        param.data = param.data + 0.2 * rng.standard_normal(param.shape)


def build(kind, d_model, nhead, ffn, layers, activation, norm_first, batch_first, bias, seed=0):
    """(ours, torch's) for ``kind``, ours float64 with perturbed weights, torch's float64.

    ``kind``: "encoder_layer", "decoder_layer", "encoder" and "decoder" (stacks of ``layers``
    layers with a final LayerNorm) or "transformer".
    """
    ours_act, torch_act = ACTIVATIONS[activation]
    common = dict(
        dim_feedforward=ffn,
        dropout=0.0,
        layer_norm_eps=1e-5,
        batch_first=batch_first,
        norm_first=norm_first,
        bias=bias,
    )
    ours_kw = dict(common, activation=ours_act, dtype=np.float64, rng=np.random.default_rng(seed))
    torch_kw = dict(common, activation=torch_act)
    if kind == "encoder_layer":
        ours = nn.TransformerEncoderLayer(d_model, nhead, **ours_kw)
        theirs = torch.nn.TransformerEncoderLayer(d_model, nhead, **torch_kw)
    elif kind == "decoder_layer":
        ours = nn.TransformerDecoderLayer(d_model, nhead, **ours_kw)
        theirs = torch.nn.TransformerDecoderLayer(d_model, nhead, **torch_kw)
    elif kind == "encoder":
        ours = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(d_model, nhead, **ours_kw),
            layers,
            nn.LayerNorm(d_model, bias=bias, dtype=np.float64),
        )
        theirs = torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(d_model, nhead, **torch_kw),
            layers,
            torch.nn.LayerNorm(d_model, bias=bias),
            enable_nested_tensor=False,  # its fast path would zero padded positions (eval only)
        )
    elif kind == "decoder":
        ours = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(d_model, nhead, **ours_kw),
            layers,
            nn.LayerNorm(d_model, bias=bias, dtype=np.float64),
        )
        theirs = torch.nn.TransformerDecoder(
            torch.nn.TransformerDecoderLayer(d_model, nhead, **torch_kw),
            layers,
            torch.nn.LayerNorm(d_model, bias=bias),
        )
    else:
        ours = nn.Transformer(d_model, nhead, layers, layers, **ours_kw)
        with warnings.catch_warnings():  # torch's encoder is built with the fast path on ...
            warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
            theirs = torch.nn.Transformer(d_model, nhead, layers, layers, **torch_kw)
        # ... which we turn off, as enable_nested_tensor=False would have
        theirs.encoder.enable_nested_tensor = theirs.encoder.use_nested_tensor = False
    _perturb(ours, seed + 1)
    return ours, theirs.double()


def _sequence(rng, batch, length, d_model, batch_first):
    """(N, L, E), (L, N, E) or, with ``batch=None``, unbatched (L, E)."""
    if batch is None:
        return rng.standard_normal((length, d_model))
    shape = (batch, length, d_model) if batch_first else (length, batch, d_model)
    return rng.standard_normal(shape)


def _attn_mask(rng, how, length, source, batch, heads, floats):
    """A mask over the (length, source) scores. ``how``: "causal" (future blocked), "random"
    (~30% blocked; rows may be fully blocked), "per-head" (random, one per batch and head).
    Boolean (True = blocked) or, with ``floats``, additive: -inf where blocked, plus random
    finite numbers elsewhere (none for the causal one, so that it stays a causal mask)."""
    if how == "causal":
        blocked = np.triu(np.ones((length, source), dtype=bool), k=1)
    elif how == "random":
        blocked = rng.random((length, source)) < 0.3
    else:
        stack = heads if batch is None else batch * heads
        blocked = rng.random((stack, length, source)) < 0.3
    if not floats:
        return blocked
    finite = 0.0 if how == "causal" else rng.standard_normal(blocked.shape)
    return np.where(blocked, -np.inf, finite)


def _padding(rng, batch, length, floats, allow_empty=False):
    """Key padding (N, L) (or (L,) unbatched): sequence b has a random length and is padded
    after it; the first sequence is never padded (the common case of the longest one)."""
    lengths = rng.integers(0 if allow_empty else 1, length + 1, size=batch or 1)
    if batch is not None:
        lengths[0] = length
    blocked = np.arange(length) >= lengths[:, None]
    if batch is None:
        blocked = blocked[0]
    return np.where(blocked, -np.inf, 0.0) if floats else blocked


def mask_kwargs(kind, spec, rng, batch, s, t, heads):
    """Our keyword arguments for ``kind`` from ``spec`` (torch gets the same values).

    ``spec``: ``attn`` (the self-attention masks: None, "causal", "random", "per-head"),
    ``memory`` (the cross-attention mask, same choices), ``padding`` (key-padding masks on
    every sequence), ``floats`` (all masks additive floats instead of booleans: torch warns
    when the two kinds are mixed), ``flags`` (the is_causal hints, set where the mask they
    describe is causal), ``empty`` (padding may cover a whole sequence).
    """
    floats, attn, memory = spec.get("floats", False), spec.get("attn"), spec.get("memory")
    flags = spec.get("flags", False)

    def self_mask(length):
        return None if attn is None else _attn_mask(rng, attn, length, length, batch, heads, floats)

    def pad(length):
        if not spec.get("padding"):
            return None
        return _padding(rng, batch, length, floats, spec.get("empty", False))

    causal_hint = True if flags and attn == "causal" else None
    memory_mask = None if memory is None else _attn_mask(rng, memory, t, s, batch, heads, floats)
    source_padding = pad(s)
    if kind == "encoder_layer":
        kw = dict(src_mask=self_mask(s), src_key_padding_mask=source_padding)
        kw["is_causal"] = causal_hint
    elif kind == "encoder":
        kw = dict(mask=self_mask(s), src_key_padding_mask=source_padding, is_causal=causal_hint)
    else:
        kw = dict(
            tgt_mask=self_mask(t),
            memory_mask=memory_mask,
            tgt_key_padding_mask=pad(t),
            memory_key_padding_mask=source_padding,  # the memory is the padded source
            tgt_is_causal=causal_hint,
            memory_is_causal=True if flags and memory == "causal" else None,
        )
        if kind == "transformer":
            kw.update(src_mask=self_mask(s), src_key_padding_mask=source_padding)
            kw["src_is_causal"] = causal_hint
    return {name: value for name, value in kw.items() if value is not None}


def inputs_for(kind, rng, batch, s, t, d_model, batch_first):
    """The arrays ``kind`` is called with: (src,), (tgt, memory) or (src, tgt)."""
    src = _sequence(rng, batch, s, d_model, batch_first)
    tgt = _sequence(rng, batch, t, d_model, batch_first)
    if kind in ("encoder_layer", "encoder"):
        return [src]
    if kind in ("decoder_layer", "decoder"):
        return [tgt, src]  # the source plays the encoder's output, the memory
    return [src, tgt]


def compare(ours, theirs, arrays, kwargs, atol=ATOL, rtol=RTOL):
    """Outputs and all gradients, ours against torch's, with the same masks."""
    torch_kwargs = {
        k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    check_module_parity(
        Call(ours, **kwargs), TorchCall(theirs, **torch_kwargs), arrays, atol=atol, rtol=rtol
    )


# ---------------------------------------------------------------------------------------------
# Hand-picked cases: every module x post/pre-norm x relu/gelu x both layouts x mask scenarios
# ---------------------------------------------------------------------------------------------

SCENARIOS = {
    "no masks": {},
    "causal bool mask": {"attn": "causal"},
    "causal float mask + is_causal flags": {"attn": "causal", "floats": True, "flags": True},
    "bool key padding": {"padding": True},
    "all bool: causal, padding, memory mask, flags": {
        "attn": "causal",
        "padding": True,
        "memory": "random",
        "flags": True,
    },
    "all float: causal, padding, memory mask, flags": {
        "attn": "causal",
        "padding": True,
        "memory": "random",
        "floats": True,
        "flags": True,
    },
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("batch_first", [True, False], ids=["batch_first", "seq_first"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-norm", "pre-norm"])
@pytest.mark.parametrize("kind", ["encoder_layer", "decoder_layer", "transformer"])
def test_matches_torch(kind, norm_first, activation, batch_first, scenario):
    ours, theirs = build(kind, E, HEADS, FFN, LAYERS, activation, norm_first, batch_first, True)
    rng = np.random.default_rng(1)
    arrays = inputs_for(kind, rng, N, S, T, E, batch_first)
    kwargs = mask_kwargs(kind, SCENARIOS[scenario], rng, N, S, T, HEADS)
    compare(ours, theirs, arrays, kwargs)


@pytest.mark.parametrize("kind", ["encoder", "decoder", "transformer"])
def test_eval_mode_and_no_bias_match_torch(kind):
    """``eval()`` on both sides (dropout off by mode, not only by p = 0), and ``bias=False``."""
    ours, theirs = build(kind, E, HEADS, FFN, LAYERS, "gelu", True, True, bias=False)
    ours.eval(), theirs.eval()
    assert not any(name.endswith("bias") for name in ours.state_dict())
    rng = np.random.default_rng(2)
    arrays = inputs_for(kind, rng, N, S, T, E, True)
    spec = {"attn": "causal", "padding": True, "memory": "per-head"}
    compare(ours, theirs, arrays, mask_kwargs(kind, spec, rng, N, S, T, HEADS))


DROPOUTS = {
    "encoder_layer": ["dropout", "dropout1", "dropout2", "self_attn"],
    "decoder_layer": ["dropout", "dropout1", "dropout2", "dropout3", "self_attn", "multihead_attn"],
}


@pytest.mark.parametrize(
    "kind, name", [(kind, name) for kind, names in DROPOUTS.items() for name in names]
)
def test_each_dropout_drops_what_torchs_drops(kind, name):
    """Dropout with p = 1 is deterministic (it zeroes everything). Switching on one at a time,
    in training, checks that each one drops the same branch as PyTorch's of the same name (an
    attention layer's drops its attention weights)."""
    ours, theirs = build(kind, E, HEADS, FFN, LAYERS, "relu", False, True, True)
    for layer in (ours, theirs):
        module = getattr(layer, name)
        if isinstance(module, nn.MultiheadAttention | torch.nn.MultiheadAttention):
            module.dropout = 1.0
        else:
            module.p = 1.0
    rng = np.random.default_rng(3)
    arrays = inputs_for(kind, rng, N, S, T, E, True)
    compare(ours, theirs, arrays, mask_kwargs(kind, {"padding": True}, rng, N, S, T, HEADS))


# ---------------------------------------------------------------------------------------------
# Randomised differential testing: what the registry above did not think of
# ---------------------------------------------------------------------------------------------


def _random_case(index):
    """One configuration drawn from a generator seeded by its index (reproducible alone)."""
    rng = np.random.default_rng([2024, index])
    nhead = int(rng.integers(1, 4))
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    case = dict(
        kind=pick(["encoder_layer", "decoder_layer", "encoder", "decoder", "transformer"]),
        nhead=nhead,
        d_model=nhead * int(rng.integers(1, 4)),
        ffn=int(rng.integers(1, 17)),
        layers=int(rng.integers(1, 4)),
        batch=pick([None, 1, 2, 3, 4]),  # None: unbatched
        s=int(rng.integers(1, 7)),
        t=int(rng.integers(1, 7)),
        norm_first=bool(rng.integers(2)),
        batch_first=bool(rng.integers(2)),
        bias=bool(rng.random() < 0.8),
        activation=pick(list(ACTIVATIONS)),
        training=bool(rng.integers(2)),
        spec=dict(
            attn=pick([None, "causal", "random", "per-head"]),
            memory=pick([None, "causal", "random", "per-head"]),
            padding=bool(rng.integers(2)),
            empty=bool(rng.integers(2)),  # a sequence may be all padding
            floats=bool(rng.integers(2)),
            flags=bool(rng.integers(2)),
        ),
    )
    spec = case["spec"]
    masks = (
        spec["attn"] if case["kind"].startswith("encoder") else f"{spec['attn']}/{spec['memory']}"
    )
    label = "-".join(
        [
            str(index),
            case["kind"],
            f"E{case['d_model']}h{nhead}ffn{case['ffn']}x{case['layers']}",
            "unbatched" if case["batch"] is None else f"N{case['batch']}",
            f"S{case['s']}T{case['t']}",
            "pre" if case["norm_first"] else "post",
            case["activation"].split()[0],
            "bf" if case["batch_first"] else "sf",
            "train" if case["training"] else "eval",
            "bias" if case["bias"] else "nobias",
            f"masks:{masks}",
            "float" if spec["floats"] else "bool",
        ]
        + ["padding" + ("(may be empty)" if spec["empty"] else "")] * spec["padding"]
        + ["flags"] * spec["flags"]
    )
    return pytest.param(case, id=label)


@pytest.mark.parametrize("case", [_random_case(i) for i in range(20)])
def test_random_configurations_match_torch(case):
    """Random sizes (down to one feature, one head, length 1), layouts, masks (fully blocked
    rows and fully padded sequences included: both libraries give such a query a zero attention
    output and zero gradients, so every position is compared), modes and activations."""
    ours, theirs = build(
        case["kind"],
        case["d_model"],
        case["nhead"],
        case["ffn"],
        case["layers"],
        case["activation"],
        case["norm_first"],
        case["batch_first"],
        case["bias"],
        seed=3,
    )
    ours.train(case["training"]), theirs.train(case["training"])
    rng = np.random.default_rng(4)
    batch, s, t = case["batch"], case["s"], case["t"]
    arrays = inputs_for(case["kind"], rng, batch, s, t, case["d_model"], case["batch_first"])
    kwargs = mask_kwargs(case["kind"], case["spec"], rng, batch, s, t, case["nhead"])
    compare(ours, theirs, arrays, kwargs)


# ---------------------------------------------------------------------------------------------
# Unbatched inputs, causal hints, PyTorch's inference fast path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["encoder_layer", "decoder_layer", "transformer"])
def test_unbatched_inputs_match_torch(kind):
    """(L, E) inputs and (L,) key-padding masks, as PyTorch accepts them; the output is (L, E)."""
    ours, theirs = build(kind, E, HEADS, FFN, LAYERS, "relu", False, False, True)
    rng = np.random.default_rng(5)
    arrays = inputs_for(kind, rng, None, S, T, E, False)
    assert all(a.ndim == 2 for a in arrays)
    spec = {"attn": "causal", "padding": True, "memory": "per-head"}
    kwargs = mask_kwargs(kind, spec, rng, None, S, T, HEADS)
    compare(ours, theirs, arrays, kwargs)
    out = Call(ours, **kwargs)(*(Tensor(a) for a in arrays))
    assert out.shape == (S if kind == "encoder_layer" else T, E)


def test_is_causal_alone_means_the_causal_mask():
    """Our extension: ``is_causal=True`` without a mask (PyTorch raises: it wants the mask
    too) applies the causal mask, exactly as passing it would."""
    ours, theirs = build("transformer", E, HEADS, FFN, LAYERS, "relu", False, True, True)
    rng = np.random.default_rng(6)
    arrays = inputs_for("transformer", rng, N, S, T, E, True)
    src, tgt = (Tensor(a) for a in arrays)
    alone = ours(src, tgt, tgt_is_causal=True, src_is_causal=True).data
    causal = nn.Transformer.generate_square_subsequent_mask
    with_masks = dict(src_mask=causal(S, np.float64), tgt_mask=causal(T, np.float64))
    compare(ours, theirs, arrays, dict(with_masks, tgt_is_causal=True))
    assert_close(alone, ours(src, tgt, **with_masks).data, atol=0, rtol=0)
    # and the causal mask matters here: without it the output is different
    assert np.abs(alone - ours(src, tgt).data).max() > 1e-3
    # memory_is_causal alone: target i sees memory 0..i (top-left aligned, as PyTorch's SDPA)
    memory, target = Tensor(arrays[0]), Tensor(arrays[1])
    layer = ours.decoder.layers[0]
    future = np.triu(np.ones((T, S), dtype=bool), k=1)
    alone = layer(target, memory, memory_is_causal=True).data
    assert_close(alone, layer(target, memory, memory_mask=future).data, atol=0, rtol=0)
    assert np.abs(alone - layer(target, memory).data).max() > 1e-3


def test_eval_fast_path_of_torch_agrees_at_every_position_without_nested_tensors():
    """In ``eval()`` without gradients, torch's encoder layers take a fused inference kernel;
    with ``enable_nested_tensor=False`` it computes every position, padded ones included, and
    agrees with us everywhere. With nested tensors on, torch drops the padded positions and
    writes zeros there (then the final norm): those positions are not defined by the model and
    differ, so only the others are compared."""
    ours, theirs = build("encoder", E, HEADS, FFN, LAYERS, "relu", False, True, True)
    torch_state = {k: torch.tensor(v) for k, v in ours.state_dict().items()}
    theirs.load_state_dict(torch_state)
    ours.eval(), theirs.eval()
    rng = np.random.default_rng(7)
    src = rng.standard_normal((N, S, E))
    padding = _padding(rng, N, S, floats=False)
    assert padding.any()
    with no_grad():
        expected = ours(Tensor(src), src_key_padding_mask=padding).data
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
        fast = theirs(torch.tensor(src), src_key_padding_mask=torch.tensor(padding))
        nested = torch.nn.TransformerEncoder(
            copy.deepcopy(theirs.layers[0]), LAYERS, copy.deepcopy(theirs.norm)
        ).double()  # (enable_nested_tensor defaults to True)
        nested.load_state_dict(torch_state)
        nested.eval()
        with_nested = nested(torch.tensor(src), src_key_padding_mask=torch.tensor(padding))
    assert_close(expected, fast, atol=ATOL, rtol=RTOL)
    kept = ~padding
    assert_close(expected[kept], with_nested.numpy()[kept], atol=ATOL, rtol=RTOL)
    assert not np.allclose(expected[padding], with_nested.numpy()[padding])


# ---------------------------------------------------------------------------------------------
# State dicts both ways, construction as PyTorch's
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_state_dict_names_and_shapes_equal_torchs(norm_first, bias):
    ours = nn.Transformer(E, HEADS, 2, 3, FFN, norm_first=norm_first, bias=bias)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
        theirs = torch.nn.Transformer(E, HEADS, 2, 3, FFN, norm_first=norm_first, bias=bias)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # same names, same order
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    names = set(ours.state_dict())
    for name in (
        "encoder.layers.1.self_attn.in_proj_weight",
        "decoder.layers.2.multihead_attn.out_proj.weight",
        "decoder.layers.0.norm3.weight",
        "encoder.norm.weight",
        "decoder.norm.weight",
    ):
        assert name in names


def test_torch_weights_load_into_ours_and_ours_into_torch():
    """torch -> ours: our outputs with torch's own initial weights equal torch's outputs (no
    copy back: a load that scrambled names would fail here). ours -> torch -> a fresh one of
    ours: the round trip is exact."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
        theirs = torch.nn.Transformer(E, HEADS, 2, 2, FFN, dropout=0.0, batch_first=True)
    theirs = theirs.double()
    for param in theirs.parameters():  # torch starts its biases at zero: move everything
        torch.nn.init.normal_(param, std=0.3)
    ours = nn.Transformer(E, HEADS, 2, 2, FFN, dropout=0.0, dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())  # strict: every name must match
    for name, value in theirs.state_dict().items():
        assert np.array_equal(ours.state_dict()[name], value.numpy()), name
    rng = np.random.default_rng(8)
    src, tgt = rng.standard_normal((N, S, E)), rng.standard_normal((N, T, E))
    mask = nn.Transformer.generate_square_subsequent_mask(T, np.float64)
    expected = theirs(torch.tensor(src), torch.tensor(tgt), tgt_mask=torch.tensor(mask))
    out = ours(Tensor(src), Tensor(tgt), tgt_mask=mask)
    assert_close(out, expected, atol=ATOL, rtol=RTOL)

    # ours -> torch (a fresh torch model, strict load) -> a fresh model of ours
    _perturb(ours, seed=9)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
        middle = torch.nn.Transformer(E, HEADS, 2, 2, FFN, dropout=0.0, batch_first=True)
    middle = middle.double()
    middle.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    back = nn.Transformer(E, HEADS, 2, 2, FFN, dropout=0.0, dtype=np.float64)
    back.load_state_dict(middle.state_dict())
    for name, value in ours.state_dict().items():
        assert np.array_equal(back.state_dict()[name], value), name
    assert_close(
        back(Tensor(src), Tensor(tgt), tgt_mask=mask).data,
        ours(Tensor(src), Tensor(tgt), tgt_mask=mask).data,
        atol=0,
        rtol=0,
    )


def test_stacks_deep_copy_the_layer_and_share_its_generator():
    """As PyTorch: independent copies that start equal (a bare stack), and the Transformer
    re-draws every matrix so its layers differ. The copies share the layer's random
    generator: copies of a generator would draw the same dropout masks in every layer."""
    rng = np.random.default_rng(10)
    layer = nn.TransformerEncoderLayer(E, HEADS, FFN, dropout=0.5, rng=rng)
    stack = nn.TransformerEncoder(layer, 3)
    assert isinstance(stack.layers, nn.ModuleList) and len(stack.layers) == 3
    first, second = stack.layers[0], stack.layers[1]
    assert first is not layer and first.linear1.weight is not second.linear1.weight
    second_state = second.state_dict()
    for name, value in first.state_dict().items():
        assert np.array_equal(value, second_state[name]), name
    second.linear1.weight.data[...] = 0  # independent parameters
    assert np.abs(first.linear1.weight.data).max() > 0
    assert first.dropout.rng is rng and second.dropout1.rng is rng
    assert second.self_attn.rng is rng

    model = nn.Transformer(E, HEADS, 2, 2, FFN, rng=np.random.default_rng(11))
    a, b = model.encoder.layers
    assert not np.array_equal(a.linear1.weight.data, b.linear1.weight.data)
    assert not np.array_equal(a.self_attn.in_proj_weight.data, b.self_attn.in_proj_weight.data)
    # xavier-uniform for every matrix (the (3E, E) in_proj has bound sqrt(6 / (E + 3E)))
    assert np.abs(a.self_attn.in_proj_weight.data).max() <= np.sqrt(6 / (4 * E))
    assert np.abs(a.linear1.weight.data).max() <= np.sqrt(6 / (E + FFN))
    assert np.all(a.self_attn.in_proj_bias.data == 0) and np.all(a.norm1.weight.data == 1)


def test_dropout_acts_in_training_only():
    model = nn.Transformer(E, HEADS, 1, 1, FFN, dropout=0.3, dtype=np.float64)
    plain = copy.deepcopy(model)
    for module in plain.modules():  # the same weights with dropout switched off
        if isinstance(module, nn.Dropout | nn.MultiheadAttention):
            module.p = module.dropout = 0.0
    rng = np.random.default_rng(12)
    src, tgt = Tensor(rng.standard_normal((N, S, E))), Tensor(rng.standard_normal((N, T, E)))
    expected = plain(src, tgt).data
    assert np.abs(model(src, tgt).data - expected).max() > 1e-3  # training: dropped
    model.eval()
    assert_close(model(src, tgt).data, expected, atol=0, rtol=0)


def test_generate_square_subsequent_mask_equals_torchs():
    for size in (0, 1, 4, 7):
        ours = nn.Transformer.generate_square_subsequent_mask(size)
        theirs = torch.nn.Transformer.generate_square_subsequent_mask(size)
        assert ours.dtype == np.float32
        assert np.array_equal(ours, theirs.numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, np.float64).dtype == np.float64
    assert nn.Transformer.generate_square_subsequent_mask(3)[0, 1] == -np.inf


# ---------------------------------------------------------------------------------------------
# Bad input: clear errors, naming the layer and the problem
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build_bad, pattern",
    [
        (
            lambda: nn.TransformerEncoderLayer(6, 4),
            r"TransformerEncoderLayer: d_model \(6\) must be divisible by nhead \(4\)",
        ),
        (
            lambda: nn.TransformerDecoderLayer(10, 3),
            r"TransformerDecoderLayer: d_model \(10\) must be divisible by nhead \(3\)",
        ),
        (lambda: nn.Transformer(6, 4), r"d_model \(6\) must be divisible by nhead \(4\)"),
        (
            lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"),
            r"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable; "
            r"got 'tanh'",
        ),
        (
            lambda: nn.Transformer(8, 2, activation="swish"),
            r"activation must be 'relu', 'gelu' or a callable; got 'swish'",
        ),
        (lambda: nn.TransformerEncoderLayer(8, 0), r"TransformerEncoderLayer: nhead must be"),
        (
            lambda: nn.TransformerDecoderLayer(8, 2, dropout=1.5),
            r"TransformerDecoderLayer: dropout must be in \[0.0, 1.0\]",
        ),
        (
            lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2), 0),
            r"TransformerEncoder: num_layers must be positive",
        ),
    ],
)
def test_bad_construction_raises_clear_errors(build_bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        build_bad()


def _bad_calls():
    x = Tensor(np.zeros((N, S, E)))
    y = Tensor(np.zeros((N, T, E)))
    enc = nn.TransformerEncoderLayer(E, HEADS, FFN)
    dec = nn.TransformerDecoderLayer(E, HEADS, FFN)
    model = nn.Transformer(E, HEADS, 1, 1, FFN)
    blocked = lambda *shape: np.zeros(shape, dtype=bool)  # noqa: E731
    return [
        (
            lambda: enc(x, src_mask=blocked(S - 1, S - 1)),
            r"TransformerEncoderLayer: src_mask must be \(5, 5\) or \(6, 5, 5\); got \(4, 4\)",
        ),
        (
            lambda: enc(x, src_key_padding_mask=blocked(S, N)),
            r"TransformerEncoderLayer: src_key_padding_mask must be \(3, 5\); got \(5, 3\)",
        ),
        (
            lambda: enc(Tensor(np.zeros((N, S, E + 1)))),
            r"TransformerEncoderLayer: src must be \(N, L, E\) \(batch_first=True\) or "
            r"unbatched \(L, E\), with E = d_model = 8; got shape \(3, 5, 9\)",
        ),
        (
            lambda: dec(y, x, tgt_mask=blocked(S, S)),
            r"TransformerDecoderLayer: tgt_mask must be \(4, 4\) or \(6, 4, 4\); got \(5, 5\)",
        ),
        (
            lambda: dec(y, x, memory_mask=blocked(S, T)),
            r"TransformerDecoderLayer: memory_mask must be \(4, 5\) or \(6, 4, 5\); got \(5, 4\)",
        ),
        (
            lambda: dec(y, x, memory_key_padding_mask=blocked(N, T)),
            r"memory_key_padding_mask must be \(3, 5\); got \(3, 4\)",
        ),
        (
            lambda: dec(y, Tensor(np.zeros((N + 1, S, E)))),
            r"TransformerDecoderLayer: tgt \(3, 4, 8\) and memory \(4, 5, 8\) must both be "
            r"batched, with the same batch size",
        ),
        (
            lambda: model(x, Tensor(np.zeros((N + 1, T, E)))),
            r"Transformer: src \(3, 5, 8\) and tgt \(4, 4, 8\) must both be batched, with the "
            r"same batch size \(batch_first=True\), or both unbatched",
        ),
        (
            lambda: model(x, Tensor(np.zeros((T, E)))),
            r"Transformer: src \(3, 5, 8\) and tgt \(4, 8\) must both be batched",
        ),
        (
            lambda: model(x, Tensor(np.zeros((N, T, E + 2)))),
            r"Transformer: tgt must be \(N, L, E\) \(batch_first=True\) or unbatched \(L, E\), "
            r"with E = d_model = 8; got shape \(3, 4, 10\)",
        ),
        (
            lambda: model(x, y, tgt_mask=blocked(N * HEADS, T, S)),
            r"TransformerDecoderLayer: tgt_mask must be \(4, 4\) or \(6, 4, 4\); got \(6, 4, 5\)",
        ),
    ]


@pytest.mark.parametrize("index", range(len(_bad_calls())))
def test_bad_calls_raise_clear_errors(index):
    call, pattern = _bad_calls()[index]
    with pytest.raises(ValueError, match=pattern):
        call()


def test_mask_of_integers_is_a_type_error():
    enc = nn.TransformerEncoderLayer(E, HEADS, FFN)
    with pytest.raises(TypeError, match=r"src_mask must be boolean .* or float .*; got dtype"):
        enc(Tensor(np.zeros((N, S, E))), src_mask=np.zeros((S, S), dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# It learns: a tiny float32 Transformer on a copy task
# ---------------------------------------------------------------------------------------------


class Copier(nn.Module):
    """Tokens -> embeddings + learned positions -> Transformer -> logits over the vocabulary."""

    def __init__(self, vocab, length, d_model, rng):
        super().__init__()
        self.tokens = nn.Embedding(vocab + 1, d_model, rng=rng)  # the extra id starts decoding
        self.positions = nn.Embedding(length, d_model, rng=rng)
        self.transformer = nn.Transformer(d_model, 2, 1, 1, 2 * d_model, dropout=0.0, rng=rng)
        self.head = nn.Linear(d_model, vocab, rng=rng)

    def forward(self, src, tgt_in):
        where = self.positions(np.arange(src.shape[1]))
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1])
        out = self.transformer(
            self.tokens(src) + where, self.tokens(tgt_in) + where, tgt_mask=causal
        )
        return self.head(out)  # (N, T, vocab)


def test_tiny_transformer_learns_to_copy():
    vocab, length, batch = 6, 5, 32
    rng = np.random.default_rng(13)
    model = Copier(vocab, length, 16, rng)
    assert all(p.dtype == np.float32 for p in model.parameters())
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(40):
        seq = rng.integers(0, vocab, size=(batch, length))
        tgt_in = np.concatenate([np.full((batch, 1), vocab), seq[:, :-1]], axis=1)  # shifted
        logits = model(seq, tgt_in)
        loss = F.cross_entropy(logits.reshape(-1, vocab), seq.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[0] > 0.8 * np.log(vocab)  # starts near chance ...
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])  # ... and has learnt to copy
