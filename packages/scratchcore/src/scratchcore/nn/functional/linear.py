"""The affine map ``y = x W^T + b``. Notes: ``packages/scratchcore/notes/02-modules.md``."""

from __future__ import annotations

from scratchcore.nn.functional._util import as_tensor
from scratchcore.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x`` (..., in) times ``weight`` (out, in) transposed, plus ``bias`` (out,): (..., out).

    The weight is stored (out, in), PyTorch's layout, so one row per output unit. Gradients come
    from ``matmul`` and broadcasting: ``dW = g^T x`` summed over the leading axes, ``db = sum g``.
    """
    x, weight = as_tensor(x), as_tensor(weight)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} needs a weight of shape (out, {x.shape[-1:]}); "
            f"got weight {weight.shape}"
        )
    out = x @ weight.transpose(0, 1)
    if bias is not None:
        bias = as_tensor(bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear: bias must have shape ({weight.shape[0]},) for weight {weight.shape}; "
                f"got {bias.shape}"
            )
        out = out + bias
    return out
