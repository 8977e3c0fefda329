"""Accuracy of ``refrnn.lyapunov_from_series`` (Rosenstein and Kantz) on series with known
largest Lyapunov exponents: clean, with observation noise, and quantised to 8 bits.

Series (``refrnn.generate``, a random initial state per seed, 10 000 transient steps):

* Hénon map (a = 1.4, b = 0.3), the 2-D state, 5000 iterations; lambda_max = 0.41922 per
  iteration;
* logistic map (r = 4), the 1-D state, 3000 iterations; lambda_max = ln 2;
* Lorenz-63, the 3-D state sampled every 0.05 time units, 5000 samples (250 time units);
  lambda_max = 0.9056 per unit time;
* Lorenz-63, its x coordinate alone (same sampling), delay-embedded with dim 3, lag 3
  (0.15 time units);
* Lorenz-63, the 3-D state again, 20 000 samples (1000 time units).

Conditions: clean; observation noise of 1 %, 5 % and 10 % of each variable's standard
deviation (``generate(noise=...)``); 8-bit quantisation (256 equal levels over each
variable's range). Every series is estimated with ``method="both"`` and the default
settings (automatic min_separation, n_steps, fit range, resolution and Kantz radius).
Reports the relative error (median [min, max] over the seeds) and how many of the runs
warned that the divergence curve has no clear linear region.

    python experiments/lyapunov_from_series.py [--seeds 5] [--render]

(``--render`` rewrites the page from the saved JSON, e.g. after editing its notes.)

Writes docs/results/lyapunov_from_series.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import refrnn
from refrnn.io import atomic_write, write_json

OUT = Path(__file__).resolve().parents[1] / "docs" / "results"

#: name -> (system, samples, generate() keywords, delay embedding (dim, lag) or None,
#: true lambda_max per unit time)
SERIES = {
    "Hénon (state)": ("henon", 5000, {}, None, 0.41922),
    "logistic r = 4 (state)": ("logistic", 3000, {}, None, math.log(2.0)),
    "Lorenz-63 (state)": ("lorenz63", 5000, {"sample_every": 5}, None, 0.9056),
    "Lorenz-63 (x, embedded 3 x 3)": ("lorenz63", 5000, {"sample_every": 5}, (3, 3), 0.9056),
    # the same state, four times as long: how much of Rosenstein's bias is the length
    "Lorenz-63 (state, 20 000 samples)": ("lorenz63", 20000, {"sample_every": 5}, None, 0.9056),
}
CONDITIONS = ("clean", "noise 1%", "8-bit", "noise 5%", "noise 10%")
METHODS = ("rosenstein", "kantz")


def quantise(X, bits=8):
    """Round each column of X, shape (T, N), to 2**bits equal levels over its range."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    q = (hi - lo) / (2**bits - 1)
    return np.round((X - lo) / q) * q + lo


def make_series(label, condition, seed):
    """The series of ``SERIES[label]`` under ``condition``; returns (X, dt)."""
    system, T, kw, embed, _ = SERIES[label]
    noise = float(condition.split()[1].rstrip("%")) / 100 if condition.startswith("noise") else 0
    ds = refrnn.generate(system, T, rng=seed, test_fraction=0.0, noise=noise, **kw)
    X = ds.train
    if condition == "8-bit":
        X = quantise(X)
    if embed is not None:
        X = refrnn.delay_embed(X[:, 0], *embed)
    return X, ds.dt


def estimate(label, condition, seed):
    """Relative errors and clear-linear-region flags of both methods on one series."""
    X, dt = make_series(label, condition, seed)
    true = SERIES[label][4]
    out = {}
    for m in METHODS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in the result's ``linear`` flag
            try:
                r = refrnn.lyapunov_from_series(X, dt=dt, method=m)
            except ValueError:  # no straight stretch at all: refused
                out[m] = (float("nan"), False, False)
                continue
        out[m] = (r.lambda_max / true - 1, r.linear, r.noise_floor)
    return out


def run(seeds):
    rows = []
    for label in SERIES:
        for condition in CONDITIONS:
            runs = [estimate(label, condition, s) for s in range(seeds)]
            row = {"series": label, "condition": condition}
            for m in METHODS:
                err = np.array([r[m][0] for r in runs])
                row[m] = {
                    "relative_error": err.tolist(),
                    "no_linear_region": int(sum(not r[m][1] for r in runs)),
                    # a clear linear region, but starting at a noise floor (a warning too)
                    "noise_floor": int(sum(r[m][1] and r[m][2] for r in runs)),
                }
            rows.append(row)
            print(f"{label:30s} {condition:9s} " + "  ".join(
                f"{m} {_cell(row[m], seeds)}" for m in METHODS), flush=True)  # fmt: skip
    return rows


def _cell(entry, seeds):
    e = np.array(entry["relative_error"], dtype=float) * 100
    refused = int(np.sum(np.isnan(e)))
    if refused == seeds:
        return f"refused {seeds}/{seeds}"
    e = e[~np.isnan(e)]
    warn = entry["no_linear_region"] - refused
    floor = entry.get("noise_floor", 0)  # absent from the JSON of refrnn <= 0.5
    return (
        f"{np.median(e):+.0f} % [{e.min():+.0f}, {e.max():+.0f}]"
        + (f", warned {warn}/{seeds}" if warn else "")
        + (f", floor {floor}/{seeds}" if floor else "")
        + (f", refused {refused}/{seeds}" if refused else "")
    )


def markdown(rows, seeds, seconds):
    lines = [
        "# λ_max from a measured series: Rosenstein and Kantz",
        "",
        '`refrnn.lyapunov_from_series(X, dt, method="both")` with its defaults, on series '
        "whose largest Lyapunov exponent is known. Relative error of the estimate, median "
        f'[min, max] over {seeds} seeds (random initial states); "warned k/n": k runs '
        "warned that the divergence curve has no clear linear region (`result.linear` is "
        'False); "floor k/n": k runs found a clear linear region but warned that the curve '
        "starts at a noise floor, so the estimate is probably low (`result.noise_floor`); "
        '"refused": the curve had no straight stretch at all and the call raised '
        "`ValueError` (only `fit_range` makes it fit). Produced by "
        "`python experiments/lyapunov_from_series.py` in "
        f"{seconds / 60:.1f} min.",
        "",
        "| series | condition | Rosenstein | Kantz |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        cells = [_cell(r[m], seeds) for m in METHODS]
        lines.append(f"| {r['series']} | {r['condition']} | {cells[0]} | {cells[1]} |")
    lines += ["", *NOTES]
    return "\n".join(lines) + "\n"


NOTES = [
    "**Series.** Hénon map, 2-D state, 5000 iterations (λ = 0.41922 per iteration); "
    "logistic map r = 4, 1-D state, 3000 iterations (λ = ln 2); Lorenz-63 sampled every "
    "0.05 time units, 5000 samples, the 3-D state or its x coordinate delay-embedded with"
    " dim 3, lag 3 (λ = 0.9056 per unit time), and the 3-D state again with 20 000 "
    "samples. Noise: Gaussian, the given fraction of each variable's standard deviation; "
    "8-bit: 256 equal levels over each variable's range.",
    "",
    "**Where the methods work (refrnn's validation bar: within 15 %).** Kantz's method is within 15 % on "
    "every series clean, with 1 % noise and at 8 bits, but for one of the five Hénon "
    "series with 1 % noise (−16 %, a run that warns, below). Rosenstein's method is "
    "within 15 % on every clean and 8-bit series but the 3-D Lorenz state of 5000 samples"
    " (clean: median −11 %, one seed −16 %; 8 bits: median −15 %, down to −17 %), and "
    "with 1 % noise on the logistic map and the embedded Lorenz series. That Lorenz bias "
    "is a property of the short series, not of the data's state: with four times the "
    "samples the same state gives −7 % [−8, −6] clean and −8 % [−11, −8] at 8 bits (and a"
    " run at 50 000 samples, 3 seeds, −5 to −4 %). It comes from the curve, not from the "
    "fit: beyond its first steps the divergence curve of the 5000-sample state rises at "
    "0.74–0.84 per unit time (slopes over one orbit, 15 samples, seed 0), below the "
    "exponent everywhere. Noise biases both estimates *down*: it sets a floor under the "
    "separations, so the curve reaches its full slope only briefly before it saturates; "
    "Kantz's average over a neighbourhood (Kantz 1994) suffers less than Rosenstein's "
    'single nearest neighbour. For noisy data use `method="kantz"`, or `"both"` and look '
    "at the curves when they disagree.",
    "",
    "**Where they cannot, the warnings.** Two rules (constants in `refrnn.lyapunov`). (1)"
    " *No clear linear region* (`result.linear` False): with 5 % or 10 % noise every run "
    "warned (or refused, below). On Lorenz-63 the straight stretch rises by less than 1.5"
    " nats (`MIN_LINEAR_RISE`). On the Hénon map with 5 % noise it still rises 1.5–1.7 "
    "nats, but behind a first step that jumps about 2 nats more than the slope gives, and"
    " behind such a jump (`NOISE_JUMP`, 1 nat) the stretch must rise 2 nats "
    '(`NOISY_MIN_RISE`). (2) *Noise floor* (`result.noise_floor`, "floor k/n"): the pair '
    "was chosen at its smallest observed distance, so with measurement noise the first "
    "step of the curve rises far more than the slope: one step later the pair is as far "
    "apart as the noise. The first-step rise over the fitted rise per step was, on the "
    "series of 3000–5000 samples, 0.3–2.0 clean, 0.3–3.2 at 8 bits and 3.0–8.5 with 1 % "
    "noise (7–44 with 5–10 %); above 3.5 (`NOISE_STEP_RATIO`), and if the first step also"
    " exceeds the slope by more than 0.1 nats (`NOISE_MIN_EXCESS`), the call warns that "
    "the estimate is probably low. The second condition spares clean flows sampled "
    "coarsely: Rössler every 10 or 25 integration steps gave ratios of 2.6–3.7 but "
    "excesses of only 0.01–0.04 nats, while 1 % noise gave 0.16 nats and more here. It "
    "flags every 1 %-noise run that missed 15 % (Rosenstein on the Hénon and Lorenz "
    "states, the Kantz Hénon run at −16 %) and, being a warning about the data, also 1 "
    "%-noise runs that came out well (Kantz on the embedded series, +3 %), and one 8-bit "
    "run of the long Lorenz series (seed 0: ratio 3.5, excess 0.10 nats, at both "
    "thresholds), whose nearest "
    "neighbours are close enough to see the quantisation. Not flagged, because their "
    "curves are clean: Rosenstein on the 5000-sample Lorenz state, clean and at 8 bits "
    "(above). A 1-D state with 5 % noise or more (logistic) is no longer a state: its "
    "curve has no straight stretch at all, and every call raised `ValueError` rather than"
    " return a number.",
    "",
    "**Quantisation** costs little: at 8 bits, 9 % (Lorenz-63 state) to 100 % (logistic) "
    "of the nearest neighbours were ties, and 0.3–2 % of the distances followed fell "
    "below the resolution (seed 0; a warning says how many, and the tie rule is in the "
    "docstring of `lyapunov_from_series`); against the clean series the medians moved by "
    "at most 9 percentage points (Rosenstein) and 6 (Kantz).",
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--render", action="store_true", help="rewrite the .md from the .json only")
    args = p.parse_args(argv)
    if args.render:
        saved = json.loads((OUT / "lyapunov_from_series.json").read_text())
        seeds, rows, seconds = saved["seeds"], saved["rows"], saved["seconds"]
    else:
        t0 = time.time()
        seeds, rows = args.seeds, run(args.seeds)
        seconds = time.time() - t0
        OUT.mkdir(parents=True, exist_ok=True)
        write_json(OUT / "lyapunov_from_series.json",
                   {"seeds": seeds, "seconds": seconds, "rows": rows})  # fmt: skip
    atomic_write(OUT / "lyapunov_from_series.md", markdown(rows, seeds, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
