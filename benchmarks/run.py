"""Benchmarks of refrnn against JAX, PyTorch and NumPy. Run: ``python benchmarks/run.py``.

Each benchmark computes the same quantity with every implementation, checks that they
agree (relative error of the worst entry), and times them side by side in this process
(median wall-clock time over interleaved rounds, after warm-up), single-threaded. It
writes ``results/results.md`` (tables, machine, load), ``results/results.json`` (raw
numbers) and ``results/scaling.png``. See ``benchmarks/README.md``.

Options: ``--quick`` (fewer sizes and rounds: a smoke test, not a measurement),
``--out DIR`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import pin_threads  # noqa: E402

pin_threads()  # before numpy / numba / jax / torch are imported

import impl_numpy as npi  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
from common import (  # noqa: E402
    chaotic_plrnn,
    check_close,
    fmt_time,
    load_average,
    lorenz_series,
    lorenz_windows,
    machine_description,
    measure,
)

import refrnn  # noqa: E402

try:
    import impl_jax as jxi
except ImportError:  # pragma: no cover - documented in the README
    jxi = None
try:
    import impl_torch as thi
except ImportError:  # pragma: no cover
    thi = None

IMPLS = ["refrnn", "jax", "torch", "numpy"]
N_OBS = 3
# Gradients agree to round-off: every implementation sums in its own order, and the
# relative error of a BPTT gradient over T = 200 steps of a contracting model stays
# around 1e-14; 1e-10 leaves four decades of margin (as in refrnn's torch tests).
GRAD_TOL = 1e-10


def log(msg):
    print(msg, flush=True)


# ======================================================================================
# 1. STF-BPTT loss and gradient
def make_model(kind, M, seed=0):
    if kind == "plrnn":
        return refrnn.PLRNN.random(M, N_OBS, rng=seed)
    return refrnn.VanillaRNN.random(M, N_OBS, rng=seed)


def bptt_case(kind, M, S, T, tau, *, repeats, budget, impls=IMPLS, check=True):
    model = make_model(kind, M)
    X = lorenz_windows(S, T)
    Bpinv = np.linalg.pinv(model.B)  # what model.infer_state uses
    # The JAX, PyTorch and NumPy versions treat B^+ x as data: refrnn computes the same
    # (detach_forcing=True); the cost of the gradient through B^+ is forcing_gradient_ab.py's
    fns = {"refrnn": lambda: refrnn.loss_and_grad(model, X, tau, detach_forcing=True)}
    if jxi is not None and "jax" in impls:
        jax_lg = jxi.make_loss_and_grad(kind, tau)
        pj, Xj, Bj = jxi.params_of(model), jxi.jnp.asarray(X), jxi.jnp.asarray(Bpinv)
        fns["jax"] = lambda: jxi.block(jax_lg(pj, Xj, Bj))
    if thi is not None and "torch" in impls:
        pt, Xt, Bt = thi.params_of(model), thi.torch.tensor(X), thi.torch.tensor(Bpinv)
        fns["torch"] = lambda: thi.loss_and_grad(kind, pt, Xt, Bt, tau)
    if "numpy" in impls:
        p_np = model.params
        fns["numpy"] = lambda: npi.loss_and_grad(kind, p_np, X, Bpinv, tau)
    errors = {}
    if check:
        loss, grads = refrnn.loss_and_grad(model, X, tau, detach_forcing=True)
        for name, fn in fns.items():
            if name == "refrnn":
                continue
            l2, g2 = fn()
            g2 = {k: np.array(v, dtype=float) for k, v in g2.items()}
            if kind == "plrnn":
                np.fill_diagonal(g2["W"], 0.0)  # W's diagonal is not a parameter
            errors[name] = max(
                check_close(f"{kind} loss {name}", float(l2), loss, GRAD_TOL),
                check_close(f"{kind} grads {name}", g2, grads, GRAD_TOL),
            )
    times = measure(fns, repeats=repeats, budget=budget)
    return times, errors


# ======================================================================================
# 2. Lyapunov spectrum
def lyapunov_model(M):
    # The chaotic PLRNN at M = 20 (config 2); elsewhere the paper's initialisation, which
    # converges to a fixed point but costs the same per step.
    return chaotic_plrnn(M, N_OBS) if M == 20 else refrnn.PLRNN.random(M, N_OBS, rng=0)


def lyapunov_setup(M):
    model = lyapunov_model(M)
    x0 = model.simulate(np.full(M, 0.1), 1000)[-1]  # on the attractor
    Q0 = np.linalg.qr(np.random.default_rng(0).standard_normal((M, M)))[0]
    return model, x0, Q0


def lyapunov_fns(model, x0, Q0, n_steps, impls=IMPLS):
    M = model.M
    fns = {
        "refrnn": lambda: (
            refrnn.lyapunov_spectrum(
                model, x0, n_steps, transient=0, tangent_transient=0, n_blocks=1, initial_frame=Q0
            ).exponents
        )
    }
    if jxi is not None and "jax" in impls:
        jax_ly = jxi.make_lyapunov(n_steps)
        args = [jxi.jnp.asarray(a) for a in (model.params["A"], model.params["W"],
                                              model.params["h"], x0, Q0)]  # fmt: skip
        fns["jax"] = lambda: np.asarray(jxi.block(jax_ly(*args)))
    if thi is not None and "torch" in impls:
        fns["torch"] = lambda: thi.lyapunov(model, x0, Q0, n_steps)
    if "numpy" in impls:
        fns["numpy"] = lambda: npi.lyapunov(model, x0, Q0, n_steps)
    assert M == model.M
    return fns


def lyapunov_case(M, n_steps, *, repeats, budget, impls=IMPLS, check=True):
    model, x0, Q0 = lyapunov_setup(M)
    errors = {}
    if check:
        # A short run: the orbits of the implementations separate like e^{lambda_1 t}
        # from their first rounding difference (the steps sum in different orders), so
        # only a short stretch of a chaotic orbit is the same computation for all.
        # lambda_1 ~ 0.06 per step: 100 steps amplify 1e-16 to ~1e-13.
        short = lyapunov_fns(model, x0, Q0, 100, impls)
        ref = short["refrnn"]()
        for name, fn in short.items():
            if name != "refrnn":
                errors[name] = check_close(f"lyapunov M={M} {name}", fn(), ref, GRAD_TOL)
    times = measure(lyapunov_fns(model, x0, Q0, n_steps, impls), repeats=repeats, budget=budget)
    for t in times.values():
        for k in ("median", "min", "cpu"):
            t[k] /= n_steps  # per step
    return times, errors


# ======================================================================================
# 4. one training epoch
def train_case(*, repeats, budget, M=20, n_batches=10, batch_size=32, seq_len=100, tau=10):
    series = lorenz_series()
    model = make_model("plrnn", M)
    seed = 7

    def run_refrnn():
        res = refrnn.train(
            model, series, tau=tau, n_epochs=1, batches_per_epoch=n_batches,
            batch_size=batch_size, seq_len=seq_len, eval_every=None, rng=seed,
            detach_forcing=True,
        )  # fmt: skip
        return res.model.params

    fns = {"refrnn": run_refrnn}
    if jxi is not None:
        epoch = jxi.make_train_epoch("plrnn", tau)
        fns["jax"] = lambda: epoch(model, series, n_batches, batch_size, seq_len, seed)
    if thi is not None:
        fns["torch"] = lambda: thi.train_epoch(
            "plrnn", model, series, n_batches, batch_size, seq_len, tau, seed
        )
    fns["numpy"] = lambda: npi.train_epoch(
        "plrnn", model, series, n_batches, batch_size, seq_len, tau, seed
    )
    ref = run_refrnn()
    # Ten Adam steps from the same windows: parameters agree to round-off (the update
    # m/sqrt(v) is well conditioned away from zero gradients, and W's diagonal, the only
    # identically zero gradient, is masked everywhere).
    errors = {
        name: check_close(f"train epoch {name}", fn(), ref, GRAD_TOL)
        for name, fn in fns.items()
        if name != "refrnn"
    }
    return measure(fns, repeats=repeats, budget=budget), errors


def _train_epoch_with_threads(n, M=20, tau=10, n_epochs=1):
    """``n_epochs`` training epochs of :func:`train_case` in one ``train`` call, with ``n``
    Numba threads."""
    series, model = lorenz_series(), make_model("plrnn", M)

    def f():
        numba.set_num_threads(n)
        try:
            refrnn.train(model, series, tau=tau, n_epochs=n_epochs, eval_every=None, rng=7,
                         detach_forcing=True)  # fmt: skip
        finally:
            numba.set_num_threads(1)

    return f


# ======================================================================================
# report
def ratio(times, other):
    if other not in times:
        return float("nan")
    return times[other]["median"] / times["refrnn"]["median"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: few sizes and rounds")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = ap.parse_args(argv)
    quick = args.quick
    rep, budget = (3, 0.5) if quick else (100, 6.0)

    numba.set_num_threads(1)
    out = {"machine": machine_description(), "load_start": load_average(),
           "started": time.strftime("%Y-%m-%d %H:%M:%S"), "quick": quick}  # fmt: skip
    log(f"machine: {out['machine']}\nload average at start: {out['load_start']}")
    main_rows, errors = {}, {}
    S, T, M, tau = 16, 200, 20, 10

    for kind in ("plrnn", "vanilla"):
        log(f"[1] STF-BPTT loss+grad, {kind}, S={S} T={T} M={M} N={N_OBS} tau={tau}")
        times, err = bptt_case(kind, M, S, T, tau, repeats=rep, budget=budget)
        main_rows[f"bptt-{kind}"], errors[f"bptt-{kind}"] = times, err
        log(f"    {_summary(times)}")

    log("[1b] threads: refrnn STF-BPTT, PLRNN config 1, 2 threads vs 1")
    model, X = make_model("plrnn", M), lorenz_windows(S, T)

    def with_threads(n):
        def f():
            numba.set_num_threads(n)
            try:
                refrnn.loss_and_grad(model, X, tau, detach_forcing=True)
            finally:
                numba.set_num_threads(1)

        return f

    thr = measure({"1 thread": with_threads(1), "2 threads": with_threads(2)},
                  repeats=rep * 2, budget=budget)  # fmt: skip
    out["threads"] = thr
    out["machine"]["numba_threading_layer"] = numba.threading_layer()
    log(f"    speed-up {thr['1 thread']['median'] / thr['2 threads']['median']:.2f}x")

    n_lyap = 200 if quick else 2000
    log(f"[2] Lyapunov spectrum, PLRNN M={M}, QR every step, {n_lyap} steps")
    times, err = lyapunov_case(M, n_lyap, repeats=max(3, rep // 3), budget=budget)
    main_rows["lyapunov"], errors["lyapunov"] = times, err
    log(f"    per step: {_summary(times)}")

    log("[4] one training epoch (10 batches of 32 windows, T=100, M=20, tau=10)")
    times, err = train_case(repeats=max(3, rep // 3), budget=budget)
    main_rows["train-epoch"], errors["train-epoch"] = times, err
    log(f"    {_summary(times)}")

    log("[4b] threads: one training epoch, 2 threads vs 1")
    thr = measure({"1 thread": _train_epoch_with_threads(1),
                   "2 threads": _train_epoch_with_threads(2)},
                  repeats=max(3, rep // 3) * 2, budget=budget)  # fmt: skip
    out["threads_epoch"] = thr
    log(f"    speed-up {thr['1 thread']['median'] / thr['2 threads']['median']:.2f}x")
    # the same per epoch inside a longer run: train's fixed cost per call (argument
    # checks, setting up the run), which threads do not shorten, spread
    # over 20 epochs (not a target row; the target is the row above)
    thr20 = measure({"1 thread": _train_epoch_with_threads(1, n_epochs=20),
                     "2 threads": _train_epoch_with_threads(2, n_epochs=20)},
                    repeats=max(3, rep // 10), budget=budget)  # fmt: skip
    out["threads_epoch_20"] = thr20
    log(
        f"    in a 20-epoch run: speed-up "
        f"{thr20['1 thread']['median'] / thr20['2 threads']['median']:.2f}x"
    )

    log("[3] scaling")
    Ms = [3, 10, 30] if quick else [3, 10, 30, 100, 300]
    Ts = [25, 50, 100] if quick else [25, 50, 100, 200, 400, 800]
    scaling = {"bptt_M": {}, "bptt_T": {}, "lyap_M": {}, "lyap_T": {}}
    for m in Ms:
        # the numerical checks ran above at M = 20; at the largest sizes they would only
        # slow the run (they are the same code paths)
        times, _ = bptt_case("plrnn", m, S, T, tau, repeats=rep, budget=budget, check=m <= 30)
        scaling["bptt_M"][m] = times
        log(f"    bptt M={m}: {_summary(times)}")
    for t in Ts:
        times, _ = bptt_case("plrnn", M, S, t, tau, repeats=rep, budget=budget, check=False)
        scaling["bptt_T"][t] = times
        log(f"    bptt T={t}: {_summary(times)}")
    for m in Ms:
        n = int(np.clip(2e6 / m**3, 10, 2000)) if not quick else 50
        times, _ = lyapunov_case(m, n, repeats=max(3, rep // 3), budget=budget, check=False)
        scaling["lyap_M"][m] = times
        log(f"    lyapunov M={m} ({n} steps), per step: {_summary(times)}")
    for n in [250, 500, 1000, 2000, 4000] if not quick else [50, 100]:
        times, _ = lyapunov_case(M, n, repeats=max(3, rep // 3), budget=budget, check=False)
        for t in times.values():
            for k in ("median", "min", "cpu"):
                t[k] *= n  # total time of the run
        scaling["lyap_T"][n] = times
        log(f"    lyapunov {n} steps: {_summary(times)}")

    out.update(main=main_rows, errors=errors, scaling=scaling, load_end=load_average(),
               finished=time.strftime("%Y-%m-%d %H:%M:%S"))  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(out, f, indent=1, default=_jsonable)
    from report import write_markdown, write_plot

    write_markdown(out, os.path.join(args.out, "results.md"))
    write_plot(out, os.path.join(args.out, "scaling.png"))
    log(f"wrote {args.out}/results.md, results.json, scaling.png")


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    raise TypeError(type(o))


def _summary(times):
    ref = times["refrnn"]["median"]
    parts = [f"refrnn {fmt_time(ref)}"]
    for k in IMPLS[1:]:
        if k in times:
            parts.append(f"{k} {fmt_time(times[k]['median'])} ({times[k]['median'] / ref:.2f}x)")
    return ", ".join(parts)


if __name__ == "__main__":
    main()
