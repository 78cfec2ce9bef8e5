"""Test-session settings shared by every package.

OpenBLAS starts one worker thread per core and keeps them spinning between calls. Our tests make
many small matrix products, interleaved with PyTorch's own thread pool, so on a 2-core machine
the extra threads mostly fight each other: with one BLAS thread the scratchvision tests ran in
about half the time (measured back to back on a machine like CI's). This must be set before
NumPy is first imported; an explicit setting in the environment wins.
"""

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
assert "numpy" not in sys.modules, "conftest.py: NumPy was imported before the BLAS thread limit"


def pytest_addoption(parser):
    # The differential fuzzer (scratchcore/tests/test_fuzz_autograd.py) checks a few hundred
    # random graphs in the normal run; a long run asks for more, e.g. --fuzz-examples 100000
    # (or the environment variable SCRATCHCORE_FUZZ_EXAMPLES).
    parser.addoption(
        "--fuzz-examples",
        type=int,
        default=None,
        help="number of random graphs the autograd fuzzer checks (default 300)",
    )
