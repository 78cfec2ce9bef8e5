"""Probabilistic PCA (Tipping & Bishop, 1999): in closed form, and by EM.

Notes: ``packages/scratchgen/notes/02-latent-variables-and-em.md`` (probabilistic PCA).

The model: a latent ``z ~ N(0, I_q)`` and ``x = W z + mu + noise``, ``noise ~ N(0, sigma^2 I_D)``,
so ``x ~ N(mu, C)`` with ``C = W W^T + sigma^2 I`` ``(D, D)``. Its log-likelihood depends on the
data only through the sample covariance ``S`` (divisor N):

    log p(X) = -N/2 [D log 2 pi + log det C + tr(C^{-1} S)].

Tipping & Bishop show the maximum is at ``mu = mean(X)``, ``sigma^2`` = the mean of the ``D - q``
smallest eigenvalues of ``S``, and ``W = U_q (Lambda_q - sigma^2 I)^{1/2} R`` for the top ``q``
eigenvectors ``U_q`` and any rotation ``R`` — ordinary PCA, with a noise level. EM reaches the
same point without an eigendecomposition; only ``W W^T`` (not ``W``) is identified, since ``R`` is
arbitrary, so that is what to compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np

LOG_2PI = np.log(2 * np.pi)


def _check_x(x: Any, owner: str, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or (n_features is not None and x.shape[1] != n_features):
        want = "(N, D)" if n_features is None else f"(N, {n_features})"
        raise ValueError(f"{owner}: X must be {want}, got shape {x.shape}")
    return x


def ppca_log_likelihood(x: Any, mean: np.ndarray, W: np.ndarray, sigma2: float) -> np.ndarray:
    """``log N(x_n; mean, W W^T + sigma^2 I)`` per row of ``x`` ``(N, D)``; ``W`` is ``(D, q)``."""
    x = _check_x(x, "ppca_log_likelihood", len(mean))
    d = x.shape[1]
    covariance = W @ W.T + sigma2 * np.eye(d)
    cholesky = np.linalg.cholesky(covariance)  # C = L L^T: log det C = 2 sum log diag L
    z = np.linalg.solve(cholesky, (x - mean).T)  # (D, N): L^{-1} (x - mean)
    log_det = 2 * np.log(np.diag(cholesky)).sum()
    return -0.5 * (d * LOG_2PI + log_det + (z * z).sum(axis=0))


class PPCA:
    """Probabilistic PCA with ``n_components`` latent dimensions, fitted by ``method``:

    - ``"closed_form"``: eigendecomposition of ``S`` (Tipping & Bishop, eq. 7-8);
    - ``"em"``: EM from a random ``W`` (seeded by ``random_state``), for ``max_iter`` iterations
      or until no entry of ``C = W W^T + sigma^2 I`` moves by more than ``tol``. (Not a test on
      the log-likelihood: near the maximum it is flat, changing by the *square* of the step, and
      stops long before ``W W^T`` has settled.)

    Learned: ``mean_`` ``(D,)``, ``components_`` = ``W`` ``(D, q)``, ``noise_variance_`` =
    ``sigma^2``; ``log_likelihood_history_`` for EM. ``score(X)`` is the mean log-likelihood
    per row (as ``sklearn.decomposition.PCA.score``).
    """

    def __init__(
        self,
        n_components: int,
        method: str = "closed_form",
        max_iter: int = 2000,
        tol: float = 1e-10,
        random_state: int = 0,
    ):
        if method not in ("closed_form", "em"):
            raise ValueError(f"PPCA: method must be 'closed_form' or 'em', got {method!r}")
        if n_components < 1:
            raise ValueError(f"PPCA: n_components must be >= 1, got {n_components}")
        self.n_components, self.method = n_components, method
        self.max_iter, self.tol, self.random_state = max_iter, tol, random_state

    def fit(self, X: Any) -> PPCA:
        x = _check_x(X, "PPCA")
        n, d = x.shape
        if not self.n_components < d:
            raise ValueError(f"PPCA: n_components must be < D = {d}, got {self.n_components}")
        self.mean_ = x.mean(axis=0)
        centred = x - self.mean_
        covariance = centred.T @ centred / n  # S, divisor N (the maximum-likelihood estimate)
        if self.method == "closed_form":
            self.components_, self.noise_variance_ = self._closed_form(covariance)
        else:
            self.components_, self.noise_variance_ = self._em(centred, covariance)
        return self

    def _closed_form(self, s: np.ndarray) -> tuple[np.ndarray, float]:
        """``sigma^2`` = mean discarded eigenvalue; ``W = U_q (Lambda_q - sigma^2 I)^{1/2}``."""
        q = self.n_components
        eigenvalues, eigenvectors = np.linalg.eigh(s)  # ascending order
        eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
        sigma2 = float(eigenvalues[q:].mean())
        W = eigenvectors[:, :q] * np.sqrt(np.maximum(eigenvalues[:q] - sigma2, 0.0))
        return W, sigma2

    def _em(self, centred: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, float]:
        """EM on the latent ``z_n`` (Tipping & Bishop, eq. 25-28), all points at once.

        E-step, with ``M = W^T W + sigma^2 I_q`` ``(q, q)``:
        ``E[z_n] = M^{-1} W^T (x_n - mu)`` and ``E[z_n z_n^T] = sigma^2 M^{-1} + E[z_n] E[z_n]^T``.
        M-step: ``W = [sum_n (x_n - mu) E[z_n]^T] [sum_n E[z_n z_n^T]]^{-1}`` and
        ``sigma^2 = (1 / ND) sum_n [|x_n - mu|^2 - 2 E[z_n]^T W^T (x_n - mu)
        + tr(E[z_n z_n^T] W^T W)]``.
        """
        n, d = centred.shape
        q = self.n_components
        rng = np.random.default_rng(self.random_state)
        W = rng.standard_normal((d, q)) * np.sqrt(np.trace(s) / d)
        sigma2 = float(np.trace(s) / d)
        self.log_likelihood_history_: list[float] = []
        for _ in range(self.max_iter):  # EM iterations: a loop on purpose
            self.log_likelihood_history_.append(self._mean_log_likelihood(s, W, sigma2))
            previous = W @ W.T + sigma2 * np.eye(d)
            M_inv = np.linalg.inv(W.T @ W + sigma2 * np.eye(q))
            Ez = centred @ W @ M_inv  # (N, q): row n is E[z_n]^T
            sum_Ezz = n * sigma2 * M_inv + Ez.T @ Ez  # sum_n E[z_n z_n^T]  (q, q)
            W = (centred.T @ Ez) @ np.linalg.inv(sum_Ezz)
            sigma2 = float(
                (
                    (centred * centred).sum()
                    - 2 * np.einsum("nq,dq,nd->", Ez, W, centred)
                    + np.trace(sum_Ezz @ W.T @ W)
                )
                / (n * d)
            )
            if np.abs(W @ W.T + sigma2 * np.eye(d) - previous).max() < self.tol:
                break
        self.n_iter_ = len(self.log_likelihood_history_)
        return W, sigma2

    @staticmethod
    def _mean_log_likelihood(s: np.ndarray, W: np.ndarray, sigma2: float) -> float:
        """``-1/2 [D log 2 pi + log det C + tr(C^{-1} S)]``: the mean over points at ``mu``."""
        d = s.shape[0]
        c = W @ W.T + sigma2 * np.eye(d)
        _, log_det = np.linalg.slogdet(c)
        return float(-0.5 * (d * LOG_2PI + log_det + np.trace(np.linalg.solve(c, s))))

    def get_covariance(self) -> np.ndarray:
        """The model covariance ``C = W W^T + sigma^2 I`` ``(D, D)``."""
        if not hasattr(self, "components_"):
            raise RuntimeError("PPCA: call fit(X) before using the model")
        W = self.components_
        return W @ W.T + self.noise_variance_ * np.eye(len(W))

    def score_samples(self, X: Any) -> np.ndarray:
        self.get_covariance()  # raises if not fitted
        return ppca_log_likelihood(X, self.mean_, self.components_, self.noise_variance_)

    def score(self, X: Any) -> float:
        """Mean log-likelihood per row (nats)."""
        return float(self.score_samples(X).mean())
