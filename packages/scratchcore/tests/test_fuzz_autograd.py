"""Differential fuzzing of the autograd engine (``scratchcore.fuzz``): random graphs of ops,
reused nodes, 0-d to 4-D, float32 and float64, checked against ``torch.autograd``, against
``backward_reference`` and (for the fused kernels) against their composed definitions.

The normal run checks ``DEFAULT_EXAMPLES`` graphs, derandomised (the same graphs every run).
A long run: ``--fuzz-examples 100000`` or ``SCRATCHCORE_FUZZ_EXAMPLES=100000``. The planted
defects below show that the check can fail: each breaks the engine in one small way and the
fuzzer must notice within a few dozen graphs.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import scratchcore.autograd as autograd
from scratchcore import fuzz
from scratchcore.tensor import Tensor

DEFAULT_EXAMPLES = 300


@pytest.fixture
def fuzz_examples(request) -> int:
    option = request.config.getoption("--fuzz-examples")
    if option is not None:
        return option
    return int(os.environ.get("SCRATCHCORE_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))


def test_fuzzed_graphs_agree_with_torch_and_with_the_reference_backward(fuzz_examples):
    @settings(
        max_examples=fuzz_examples,
        derandomize=True,  # the same graphs every run: a failure is reproducible, never a flake
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),  # graphs are large draws by design
    )
    @given(fuzz.graphs())
    def check(graph):
        fuzz.check_graph(graph)

    check()


def _first_mismatch(n_graphs: int, seed: int = 0) -> fuzz.FuzzMismatch | None:
    for i in range(n_graphs):
        graph = fuzz.generate(fuzz.RandomChooser(seed, i))
        try:
            fuzz.check_graph(graph)
        except fuzz.FuzzMismatch as error:
            return error
    return None


@pytest.mark.parametrize("seed, index", [(0, 16546), (0, 69734)])
def test_graphs_a_deep_run_found(seed, index):
    # The two backward levels laid a sum out differently (Fortran order from a transposed
    # gradient in one, C order in the other); a later matmul then rounded in another order.
    fuzz.check_graph(fuzz.generate(fuzz.RandomChooser(seed, index)))


def test_the_unbroken_engine_passes_the_graphs_the_planted_defects_use():
    assert _first_mismatch(60) is None


def test_planted_defect_gradient_off_by_one_part_in_a_million_is_caught(monkeypatch):
    def tanh(self):
        out = np.tanh(self.data)
        return Tensor._make(out, (self,), lambda g: (g * (1 - out * out) * (1 + 1e-6),), "tanh")

    monkeypatch.setattr(Tensor, "tanh", tanh)
    error = _first_mismatch(60)
    assert error is not None and "grad of leaf" in str(error)


def test_planted_defect_a_dropped_use_is_caught(monkeypatch):
    """run_backward loses the third and later gradients of a node (the 0-d defect's shape)."""
    original = autograd._add

    def dropping_add(pending, owned, key, grad):
        if key in owned:  # a third gradient for this node: dropped
            return
        original(pending, owned, key, grad)

    monkeypatch.setattr(autograd, "_add", dropping_add)
    error = _first_mismatch(60)
    assert error is not None and "grad of leaf" in str(error)


def test_planted_defect_an_op_that_cuts_the_graph_is_caught(monkeypatch):
    original = Tensor.sum

    def detached_sum(self, axis=None, keepdims=False):
        return Tensor(original(self, axis, keepdims).data)  # right value, no gradient

    monkeypatch.setattr(Tensor, "sum", detached_sum)
    assert _first_mismatch(60) is not None


def test_planted_defect_a_float64_gradient_in_a_float32_graph_is_caught(monkeypatch):
    def neg(self):
        return Tensor._make(-self.data, (self,), lambda g: (-g.astype(np.float64),), "neg")

    monkeypatch.setattr(Tensor, "__neg__", neg)
    error = _first_mismatch(150)
    assert error is not None and "dtype float64" in str(error)


def test_known_issues_name_cases_the_generator_leaves_out():
    """Every exclusion is listed by name, says what goes wrong, and names a place where the
    generator leaves the case out (the list is meant to be empty)."""
    source = Path(fuzz.__file__).read_text()
    for name, what in fuzz.KNOWN_ISSUES.items():
        assert len(what) > 20, name
        assert f'_known("{name}")' in source, f"{name} excludes nothing"


def test_planted_defect_in_a_composed_definition_is_caught(monkeypatch):
    """The composed-vs-fused comparison can fail: silu's definition off by one part in 1e6."""
    original = fuzz.F_REFERENCE.silu
    monkeypatch.setattr(fuzz.F_REFERENCE, "silu", lambda x: original(x) * (1 + 1e-6))
    error = _first_mismatch(150)
    assert error is not None and "composed vs fused" in str(error)


def test_planted_defect_the_two_backward_levels_disagreeing_is_caught(monkeypatch):
    """backward_reference off by one part in 1e12: far below torch's tolerance; the two levels
    must agree to the bit."""
    original = fuzz.backward_reference

    def reference_off(root, grad):
        original(root, grad * (1 + 1e-12))

    monkeypatch.setattr(fuzz, "backward_reference", reference_off)
    error = _first_mismatch(60)
    assert error is not None and "run_backward vs backward_reference" in str(error)


def test_without_torch_the_fuzzer_says_what_it_needs():
    """scratchcore itself never imports the fuzzer; importing it without torch names the
    missing test-time dependencies."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import scratchcore\n"
        "assert 'scratchcore.fuzz' not in sys.modules\n"
        "try:\n"
        "    import scratchcore.fuzz\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "needs hypothesis and torch" in done.stdout
