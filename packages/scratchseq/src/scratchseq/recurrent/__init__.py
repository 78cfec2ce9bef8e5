"""Recurrent networks — vanilla RNN, LSTM and GRU — trained by backpropagation through time.

Notes: ``packages/scratchseq/notes/04-recurrence.md``.

``cells`` holds one time step of each; ``layers`` loops a cell over time and stacks layers, with
PyTorch's parameter names and layouts; ``language_model`` puts an embedding below a
layer and a read-out above it.
"""

from scratchseq.recurrent.cells import gru_cell, lstm_cell, rnn_cell
from scratchseq.recurrent.language_model import RecurrentLanguageModel
from scratchseq.recurrent.layers import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "RecurrentLanguageModel", "gru_cell", "lstm_cell", "rnn_cell"]
