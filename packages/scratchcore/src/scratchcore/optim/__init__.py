"""Optimizers, learning-rate schedules and gradient clipping, with torch's names and defaults.

Notes: ``packages/scratchcore/notes/03-optimizers.md``. Read ``optimizer.py`` first (the shared
bookkeeping), then ``sgd.py``, ``adagrad.py``, ``rmsprop.py`` and ``adam.py`` in that order: each
adds one idea to the one before. Optimizers built for scale (notes
``08-optimizers-for-scale.md``): ``schedule_free.py``, ``muon.py``, ``shampoo.py``, ``lion.py``.
Averaging the weights an optimizer visits: ``ema.py``.
"""

from scratchcore.optim import lr_scheduler
from scratchcore.optim.adagrad import Adagrad
from scratchcore.optim.adam import Adam, AdamW
from scratchcore.optim.clip_grad import clip_grad_norm_
from scratchcore.optim.ema import ExponentialMovingAverage
from scratchcore.optim.lion import Lion
from scratchcore.optim.muon import Muon
from scratchcore.optim.optimizer import Optimizer
from scratchcore.optim.rmsprop import RMSprop
from scratchcore.optim.schedule_free import AdamWScheduleFree
from scratchcore.optim.sgd import SGD
from scratchcore.optim.shampoo import Shampoo

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdamWScheduleFree",
    "ExponentialMovingAverage",
    "Lion",
    "Muon",
    "Optimizer",
    "RMSprop",
    "Shampoo",
    "clip_grad_norm_",
    "lr_scheduler",
]
