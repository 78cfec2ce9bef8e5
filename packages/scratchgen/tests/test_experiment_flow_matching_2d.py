"""Smoke run of experiments/flow_matching_2d.py: it trains a tiny velocity field on both datasets,
sweeps the samplers, computes exact and Hutchinson likelihoods, checks them on the Gaussian's
closed-form velocity, reflows, and writes its JSON and five figures — whose numbers must agree
with each other and with the solvers' bookkeeping."""

import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment
from scratchcore.train.results import to_jsonable
from scratchgen.flow_matching import GaussianVelocity, sample_ode

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "flow_matching_2d.py"


def test_straightness_is_zero_on_straight_paths_and_measures_a_bend():
    experiment = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    x0, x1 = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    t = np.linspace(0, 1, 9)[:, None, None]
    s, relative = experiment.straightness((1 - t) * x0 + t * x1)
    assert abs(s) < 1e-24 and abs(relative) < 1e-24
    # Two half-steps, velocities (1, 1) and (1, −1) against the chord (1, 0): S = 1, relative 1.
    bent = np.array([[[0.0, 0.0]], [[0.5, 0.5]], [[1.0, 0.0]]])
    assert experiment.straightness(bent) == (1.0, 1.0)


def test_trajectory_ends_where_the_solver_does():
    field = GaussianVelocity([1.0, -0.5], [0.3, 2.0])
    x0 = np.random.default_rng(1).normal(size=(50, 2))
    path, nfe = load_experiment(SCRIPT).trajectory(field, x0, 8)
    end, solver_nfe = sample_ode(field, x0, 8, "midpoint")
    assert path.shape == (9, 50, 2) and nfe == solver_nfe == 16
    np.testing.assert_array_equal(path[0], x0)
    np.testing.assert_allclose(path[-1], end, atol=1e-12)


def test_flow_matching_2d_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    config = experiment.SMOKE
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "flow_matching_2d.json").read_text())
    assert record["experiment"] == "flow_matching_2d" and record["config"]["smoke"] is True
    assert record["metrics"] == to_jsonable(metrics)
    assert len(record["figures"]) == 5
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    committed = experiment.REALNVP_RESULTS
    realnvp = json.loads(committed.read_text())["metrics"] if committed.exists() else None
    few, many = config.nll_steps
    for name in ("two_moons", "two_rings"):
        m = metrics[name]
        # Honest cost: one evaluation per Euler step, two per midpoint step, everywhere.
        for model in (m, m["reflow"]):
            for method, counts, per_step in (
                ("euler", config.euler_steps, 1),
                ("midpoint", config.midpoint_steps, 2),
            ):
                rows = model["samplers"][method]
                assert [r["steps"] for r in rows] == list(counts)
                assert [r["nfe"] for r in rows] == [per_step * s for s in counts]
                # More steps, closer to the converged solution (same noise throughout).
                errors = [r["rms_distance_to_reference"] for r in rows]
                assert all(a > b for a, b in pairwise(errors))
            assert model["reference"]["nfe"] == 2 * config.reference_steps
            assert model["reference"]["straightness"] >= 0
        assert m["reflow"]["pair_nfe_each"] == 2 * config.reflow_pair_steps
        # Even twenty steps of reflow straighten the paths.
        assert (
            m["reflow"]["reference"]["relative_straightness"]
            < m["reference"]["relative_straightness"]
        )
        losses = m["history"]["train_loss"]["values"]
        assert np.mean(losses[-2:]) < np.mean(losses[:2])

        # The likelihood's bookkeeping: midpoint steps, exact 2x2 traces (D = 2 passes each).
        by_steps = m["test_nll_nats_by_midpoint_steps"]
        assert m["test_nll_nats"] == by_steps[str(many)]
        assert m["likelihood_nfe"] == 2 * many and m["likelihood_backward_passes"] == 2 * many
        hutchinson = m["hutchinson"]
        assert hutchinson["exact_test_nll_nats"] == by_steps[str(few)]
        assert hutchinson["backward_passes"] == config.hutchinson_probes * few
        assert hutchinson["exact_backward_passes"] == 2 * few
        np.testing.assert_allclose(
            hutchinson["test_nll_nats"],
            hutchinson["exact_test_nll_nats"] - hutchinson["mean_difference_to_exact"],
            rtol=1e-12,
        )
        # Unbiased (same path, so the difference is the estimator's noise): within 4.5 SE.
        assert hutchinson["per_point_std_of_difference"] > 0
        assert (
            abs(hutchinson["mean_difference_to_exact"])
            < 4.5 * hutchinson["standard_error_of_mean_difference"]
        )
        # The machinery on a known density: the Gaussian fit's closed-form velocity, through
        # the ODE, gives that Gaussian's log-density; doubling the midpoint steps cuts the
        # error by at least 3 (second order).
        errors = m["gaussian_check"]["max_abs_error_nats_by_midpoint_steps"]
        assert errors[str(many)] < 0.01 and errors[str(few)] > 3 * errors[str(many)]
        assert (
            abs(m["gaussian_check"]["test_nll_nats_through_the_ode"] - m["gaussian_test_nll_nats"])
            <= errors[str(many)]
        )
        # One standardised-scale Gaussian has NLL near log(2 pi e) = 2.84 nats on both sets;
        # a velocity field near it after thirty steps is a proper density near it too.
        assert 2.5 < m["gaussian_test_nll_nats"] < 3.3
        assert abs(m["test_nll_nats"] - m["gaussian_test_nll_nats"]) < 0.2
        assert abs(m["density_mass_on_grid"] - 1) < 0.05
        assert m["energy_distance_floor_heldout_vs_test"] < m["energy_distance_gaussian_vs_test"]

        # RealNVP is read from its committed results, never recomputed; a smoke run's data are
        # not RealNVP's, and say so.
        if realnvp is None:
            assert m["realnvp"] is None
        else:
            assert m["realnvp"] == {
                "test_nll_nats": realnvp[name]["test_nll_nats"],
                "gaussian_test_nll_nats": realnvp[name]["gaussian_test_nll_nats"],
                "same_data_and_split": False,
            }
