"""Expectation–maximisation for two mixtures: Gaussians (full covariances) and Bernoullis.

Notes: ``packages/scratchgen/notes/02-latent-variables-and-em.md``.

A mixture says: pick a hidden component ``z ~ Categorical(weights)``, then draw ``x ~ p(x | z)``.
The log-likelihood ``sum_n log sum_k weights_k p(x_n | k)`` has a sum inside the log and no
closed-form maximiser, but EM alternates two closed-form steps that can never lower it:

- **E-step**: responsibilities ``r_nk = p(z_n = k | x_n)``, by Bayes' rule, in log space with a
  log-sum-exp over ``k`` (a point far from every component would otherwise underflow to 0/0);
- **M-step**: each component's maximum-likelihood fit, with each point counted ``r_nk`` times.

Both estimators follow scikit-learn's conventions: hyperparameters in ``__init__``, ``fit(X)``
returns ``self``, learned attributes end in ``_``, ``score(X)`` is the mean log-likelihood per
point (nats); the objective before each M-step is recorded per iteration
(``lower_bound_history_``, ``objective_history_``) so that the climb can be checked and plotted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchgen.distributions import GaussianMixture


def _check_x(x: Any, owner: str, n_features: int | None = None) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or (n_features is not None and x.shape[1] != n_features):
        want = "(N, D)" if n_features is None else f"(N, {n_features})"
        raise ValueError(f"{owner}: X must be {want} with N >= 1, got shape {x.shape}")
    return x


def _normalise_log(log_joint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ``log p(x_n, z_n = k)`` ``(N, K)``: ``(log r_nk (N, K), log p(x_n) (N,))``."""
    log_px = np.logaddexp.reduce(log_joint, axis=1)
    return log_joint - log_px[:, None], log_px


class GaussianMixtureEM:
    """EM for ``sum_k pi_k N(x; mu_k, Sigma_k)`` with full covariances ``(K, D, D)``.

    ``reg_covar`` is added to every covariance's diagonal in the M-step (as scikit-learn does):
    a component that collapses onto a single point would otherwise have a singular covariance
    and an infinite likelihood. Initialisation: ``weights_init``, ``means_init`` and
    ``covariances_init`` when given (all three, or none); otherwise ``n_components`` distinct data
    points drawn with ``random_state`` as means, the data covariance for every component, equal
    weights. Stops after ``max_iter`` iterations or when the mean log-likelihood rises by less
    than ``tol``.
    """

    def __init__(
        self,
        n_components: int,
        max_iter: int = 100,
        tol: float = 1e-6,
        reg_covar: float = 1e-6,
        weights_init: Any = None,
        means_init: Any = None,
        covariances_init: Any = None,
        random_state: int = 0,
    ):
        if n_components < 1 or max_iter < 1 or tol < 0 or reg_covar < 0:
            raise ValueError(
                f"GaussianMixtureEM: need n_components >= 1, max_iter >= 1, tol >= 0, "
                f"reg_covar >= 0; got {n_components}, {max_iter}, {tol}, {reg_covar}"
            )
        given = [v is not None for v in (weights_init, means_init, covariances_init)]
        if any(given) and not all(given):
            raise ValueError(
                "GaussianMixtureEM: give all of weights_init, means_init, covariances_init or none"
            )
        self.n_components, self.max_iter, self.tol = n_components, max_iter, tol
        self.reg_covar, self.random_state = reg_covar, random_state
        self.weights_init, self.means_init = weights_init, means_init
        self.covariances_init = covariances_init

    def _initial_mixture(self, x: np.ndarray) -> GaussianMixture:
        if self.weights_init is not None:
            return GaussianMixture(self.weights_init, self.means_init, self.covariances_init)
        n, d = x.shape
        if n < self.n_components:
            raise ValueError(
                f"GaussianMixtureEM: {n} points cannot seed {self.n_components} components"
            )
        rng = np.random.default_rng(self.random_state)
        means = x[rng.choice(n, size=self.n_components, replace=False)]
        covariance = np.cov(x, rowvar=False, bias=True).reshape(d, d) + self.reg_covar * np.eye(d)
        weights = np.full(self.n_components, 1 / self.n_components)
        return GaussianMixture(
            weights, means, np.broadcast_to(covariance, (self.n_components, d, d))
        )

    def e_step(self, x: np.ndarray, mixture: GaussianMixture) -> tuple[np.ndarray, float]:
        """Responsibilities ``r`` ``(N, K)`` (rows sum to 1) and the mean log-likelihood."""
        log_r, log_px = _normalise_log(mixture.component_log_prob(x))
        return np.exp(log_r), float(log_px.mean())

    def m_step(self, x: np.ndarray, r: np.ndarray) -> GaussianMixture:
        """Weighted maximum likelihood: ``N_k = sum_n r_nk``, ``pi_k = N_k / N``,
        ``mu_k = sum_n r_nk x_n / N_k``, ``Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k``.
        """
        d = x.shape[1]
        counts = r.sum(axis=0) + 10 * np.finfo(np.float64).tiny  # (K,); never divide by 0
        means = (r.T @ x) / counts[:, None]  # (K, D)
        diff = x[None, :, :] - means[:, None, :]  # (K, N, D)
        covariances = np.einsum("nk,kni,knj->kij", r, diff, diff) / counts[:, None, None]
        covariances += self.reg_covar * np.eye(d)  # the covariance floor (see the class doc)
        return GaussianMixture(counts / counts.sum(), means, covariances)

    def fit(self, X: Any) -> GaussianMixtureEM:
        x = _check_x(X, "GaussianMixtureEM")
        mixture = self._initial_mixture(x)
        self.lower_bound_history_: list[float] = []
        self.converged_ = False
        for _ in range(self.max_iter):  # EM iterations: a loop on purpose, each step vectorised
            r, log_likelihood = self.e_step(x, mixture)
            self.lower_bound_history_.append(log_likelihood)
            mixture = self.m_step(x, r)
            history = self.lower_bound_history_
            if len(history) > 1 and history[-1] - history[-2] < self.tol:
                self.converged_ = True
                break
        self.mixture_ = mixture
        self.weights_, self.means_ = mixture.weights, mixture.means
        self.covariances_ = mixture.covariances
        self.n_iter_ = len(self.lower_bound_history_)
        return self

    def _fitted(self) -> GaussianMixture:
        if not hasattr(self, "mixture_"):
            raise RuntimeError("GaussianMixtureEM: call fit(X) before using the model")
        return self.mixture_

    def score_samples(self, X: Any) -> np.ndarray:
        """``log p(x_n)`` per point, ``(N,)``."""
        mixture = self._fitted()
        return mixture.log_prob(_check_x(X, "GaussianMixtureEM", mixture.n_features)).data

    def score(self, X: Any) -> float:
        """Mean log-likelihood per point (nats), as ``sklearn.mixture.GaussianMixture.score``."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X: Any) -> np.ndarray:
        mixture = self._fitted()
        return self.e_step(_check_x(X, "GaussianMixtureEM", mixture.n_features), mixture)[0]

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)


class BernoulliMixtureEM:
    """EM for ``sum_k pi_k prod_d mu_kd^x_d (1 - mu_kd)^(1 - x_d)`` on binary ``X`` ``(N, D)``.

    Maximum likelihood would set a pixel probability to exactly 0 or 1 whenever a cluster's
    pixels all agree, and then one unseen test image scores ``log 0 = -inf``. So the M-step
    adds ``alpha > 0`` pseudo-counts to each of "on" and "off" (a Beta(alpha + 1, alpha + 1)
    prior: MAP-EM, which never lowers the log-likelihood *plus* log-prior), so every ``mu_kd``
    stays strictly inside (0, 1) and every log is finite. ``n_init`` restarts, each
    from responsibilities drawn at random (Dirichlet), keep the one with the best objective on
    the training data.
    """

    def __init__(
        self,
        n_components: int,
        max_iter: int = 200,
        tol: float = 1e-6,
        alpha: float = 1.0,
        n_init: int = 1,
        random_state: int = 0,
    ):
        if n_components < 1 or max_iter < 1 or tol < 0 or not alpha > 0 or n_init < 1:
            raise ValueError(
                "BernoulliMixtureEM: need n_components >= 1, max_iter >= 1, tol >= 0, "
                f"alpha > 0, n_init >= 1; got {n_components}, {max_iter}, {tol}, {alpha}, {n_init}"
            )
        self.n_components, self.max_iter, self.tol = n_components, max_iter, tol
        self.alpha, self.n_init, self.random_state = alpha, n_init, random_state

    def component_log_prob(self, x: np.ndarray, weights: np.ndarray, probs: np.ndarray):
        """``log pi_k + sum_d [x_d log mu_kd + (1 - x_d) log(1 - mu_kd)]`` as ``(N, K)``:
        two matrix products instead of a loop over points, components or pixels."""
        with np.errstate(divide="ignore"):  # an emptied component has weight 0: log 0 = -inf
            log_weights = np.log(weights)
        return x @ np.log(probs).T + (1 - x) @ np.log1p(-probs).T + log_weights

    def m_step(self, x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pi_k = N_k / N``; ``mu_kd = (sum_n r_nk x_nd + alpha) / (N_k + 2 alpha)``."""
        counts = r.sum(axis=0)
        probs = (r.T @ x + self.alpha) / (counts[:, None] + 2 * self.alpha)
        return counts / counts.sum(), probs

    def _log_prior(self, probs: np.ndarray) -> float:
        """``sum_kd alpha [log mu_kd + log(1 - mu_kd)]`` (up to a constant)."""
        return float(self.alpha * (np.log(probs) + np.log1p(-probs)).sum())

    def _run(self, x: np.ndarray, rng: np.random.Generator):
        r = rng.dirichlet(np.ones(self.n_components), size=len(x))  # a random soft assignment
        weights, probs = self.m_step(x, r)
        history = []
        for _ in range(self.max_iter):  # EM iterations: a loop on purpose, each step vectorised
            log_r, log_px = _normalise_log(self.component_log_prob(x, weights, probs))
            history.append(float(log_px.sum() + self._log_prior(probs)) / len(x))
            weights, probs = self.m_step(x, np.exp(log_r))
            if len(history) > 1 and history[-1] - history[-2] < self.tol:
                break
        return weights, probs, history

    def fit(self, X: Any) -> BernoulliMixtureEM:
        x = _check_x(X, "BernoulliMixtureEM")
        if not np.all((x == 0) | (x == 1)):
            raise ValueError("BernoulliMixtureEM: X must hold only 0s and 1s")
        rng = np.random.default_rng(self.random_state)
        best = None
        for _ in range(self.n_init):  # restarts: a loop on purpose; the best objective wins
            run = self._run(x, rng)
            if best is None or run[2][-1] > best[2][-1]:
                best = run
        self.weights_, self.probs_, self.objective_history_ = best
        self.n_iter_ = len(self.objective_history_)
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """``log p(x_n)`` per image (nats), ``(N,)``."""
        if not hasattr(self, "probs_"):
            raise RuntimeError("BernoulliMixtureEM: call fit(X) before using the model")
        x = _check_x(X, "BernoulliMixtureEM", self.probs_.shape[1])
        return np.logaddexp.reduce(self.component_log_prob(x, self.weights_, self.probs_), axis=1)

    def score(self, X: Any) -> float:
        """Mean log-likelihood per image (nats); the negative is the test NLL."""
        return float(self.score_samples(X).mean())

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` binary images ``(n, D)`` (float64 0s and 1s) and the component of each ``(n,)``.

        Ancestral sampling, the model's own story: ``z ~ Categorical(weights_)``, then every
        pixel ``x_d ~ Bernoulli(probs_[z, d])`` independently (as scikit-learn's mixtures, the
        labels are returned beside the samples).
        """
        if not hasattr(self, "probs_"):
            raise RuntimeError("BernoulliMixtureEM: call fit(X) before sampling")
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
            raise ValueError(f"BernoulliMixtureEM.sample: n must be an int >= 1, got {n!r}")
        labels = rng.choice(len(self.weights_), size=n, p=self.weights_)
        images = rng.random((n, self.probs_.shape[1])) < self.probs_[labels]
        return images.astype(np.float64), labels
