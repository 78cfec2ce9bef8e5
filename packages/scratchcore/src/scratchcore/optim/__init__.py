"""Optimizers, learning-rate schedules and gradient clipping, with torch's names and defaults.

Notes: ``packages/scratchcore/notes/03-optimizers.md``. Read ``optimizer.py`` first (the shared
bookkeeping), then ``sgd.py``, ``adagrad.py``, ``rmsprop.py`` and ``adam.py`` in that order: each
adds one idea to the one before.
"""

from scratchcore.optim import lr_scheduler
from scratchcore.optim.adagrad import Adagrad
from scratchcore.optim.adam import Adam, AdamW
from scratchcore.optim.clip_grad import clip_grad_norm_
from scratchcore.optim.optimizer import Optimizer
from scratchcore.optim.rmsprop import RMSprop
from scratchcore.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm_",
    "lr_scheduler",
]
