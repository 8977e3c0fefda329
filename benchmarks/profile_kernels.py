"""Where the time of refrnn's kernels goes: each piece of a benchmark timed on its own.

Run: ``python benchmarks/profile_kernels.py`` (writes ``results/profile.md``). Numba code is
opaque to sampling profilers (py-spy sees one native frame; perf has no hardware counters
in a VM), so this times the pieces directly: the same kernels the benchmark calls, each
in a Numba loop over the same inputs, single-threaded. Times per call of the benchmark.

STF-BPTT: ``loss_and_grad`` runs the batch-major kernel (``refrnn._batched``); the
window-by-window kernels are its fallback, timed as a reference. Lyapunov: from
``GEMM_MIN_DIM`` (48) the pieces are the kernel's ``dgemm`` and LAPACK QR, below it the
hand-written loops, as in ``lyapunov_spectrum``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import pin_threads  # noqa: E402

pin_threads()

import numba  # noqa: E402
import numpy as np  # noqa: E402
from common import chaotic_plrnn, load_average, lorenz_windows, measure  # noqa: E402
from numba import njit  # noqa: E402

import refrnn  # noqa: E402
from refrnn import _batched, _kernels, bptt  # noqa: E402
from refrnn._kernels import advance  # noqa: E402
from refrnn._linalg import (  # noqa: E402
    apply_reflectors_lapack,
    apply_reflectors_rows,
    block_factors,
    householder_lapack,
    householder_rows,
    lapack_qr_work_size,
    transpose_in_place,
)


@njit
def _tanhs(A, out):
    """M scalar tanh calls per step, as in the vanilla RNN's forward pass."""
    for s in range(A.shape[0]):
        for t in range(A.shape[1]):
            for i in range(A.shape[2]):
                out[s, t, i] = np.tanh(A[s, t, i])


def bptt_profile(kind, S=16, T=200, M=20, tau=10):
    """``loss_and_grad`` as the benchmark calls it (``detach_forcing=True``): the total, its
    batch-major kernel call, and the window-by-window kernels (only a fallback now) for
    reference."""
    model = (refrnn.PLRNN if kind == "plrnn" else refrnn.VanillaRNN).random(M, 3, rng=0)
    X = lorenz_windows(S, T)
    N = X.shape[2]
    identity, B = bptt._readout_arrays(model)
    tau_k, alpha = bptt.schedule(tau, None)
    F, _ = bptt._forcing(model, X, tau_k, None)  # forcing rows of steps 0, tau, 2 tau, ...
    th = bptt._kernel_theta(model)
    k, P = model.kind, th.shape[0]
    ws = _batched.Workspace(S, T, M, N, P)
    grad = np.empty(model.theta.shape[0] + N * M)
    # scratch of the window-by-window kernels, as loss_and_grad allocates it
    GF = np.zeros(F.shape)  # gradients with respect to the forcing states
    Z, Zf = np.empty((S, T + 1, M)), np.empty((S, T + 1, M))
    Zf2, Gz2, zin = np.empty((S, 2, M)), np.empty((S, 2, M)), np.empty((S, M))
    Xhat, Gx = np.empty_like(X), np.empty_like(X)
    sq, bad = np.empty(S), np.empty(S, dtype=np.int64)
    G_theta, G_B = np.zeros((S, P)), np.zeros((S, N, M))
    scale = -2.0 / (S * T * N)
    _, _, G = refrnn.loss_and_grad(model, X, tau, return_state_grads=True, detach_forcing=True)
    A_pre = np.random.default_rng(0).normal(size=(S, T, M))
    A_out = np.empty_like(A_pre)
    fused_args = (k, th, M, identity, B, X, F, tau_k, alpha, scale, Z, Zf2, Xhat, Gx, Gz2, zin,
                  G_theta, G_B, GF, sq, bad)  # fmt: skip
    fns = {
        "loss_and_grad (total)": lambda: refrnn.loss_and_grad(model, X, tau, detach_forcing=True),
        "  _batched.batch_loss_and_grad (batch-major kernel)": lambda: _batched.batch_loss_and_grad(
            k,
            th,
            model.theta.shape[0],
            M,
            identity,
            B,
            model.B_pinv,
            X,
            ws.forcing(F.shape[1]),
            False,
            tau_k,
            alpha,
            False,
            grad,
            ws,
        ),  # fmt: skip
        "reference: per-window fused kernel (fallback path)": lambda: bptt._loss_and_grad_kernel(
            *fused_args
        ),
        "    per-window forward kernel": lambda: bptt._forward_kernel(
            k, th, M, identity, B, X, F, tau_k, alpha, Z, Zf, Xhat, sq, bad
        ),
        "    per-window backward kernel": lambda: bptt._backward_kernel(
            k, th, M, identity, B, tau_k, alpha, Z, F, Gx, G, zin, G_theta, G_B, GF
        ),
    }
    if kind == "vanilla":
        fns["      the S*T*M tanh calls alone"] = lambda: _tanhs(A_pre, A_out)
    return measure(fns, repeats=40, budget=3.0)


@njit
def _lyap_pieces(kind, theta, M, X, Yin, Q, J, Y, R, tau, T, w, x, xn, work, part, lapack,
                 lapack_work, lapack_int, lapack_chars):  # fmt: skip
    """One piece of the Lyapunov step, repeated along a stored orbit X (n_steps, M).

    As in the kernel, frames are transposed (k, M) and kept as reflectors (``Q``, ``tau``,
    and with ``lapack`` their blocks' factors ``T``): the product is the transposed
    Jacobian with the reflectors applied, by hand or (with ``lapack``) by ``dgemqrt``.
    The QR factorises the same product ``Yin`` every time (copied in first; the copy
    alone is timed as its own piece).
    """
    for t in range(X.shape[0]):
        if part == 0:
            _kernels.map_jacobian(kind, theta, M, X[t], J, work)
        elif part == 1:
            transpose_in_place(J)
            if lapack:
                apply_reflectors_lapack(Q, T, J, lapack_work, lapack_int, lapack_chars)
            else:
                apply_reflectors_rows(Q, tau, J, w)
            Y[:, :] = J
        elif part == 2:
            Y[:, :] = Yin
            if lapack:
                householder_lapack(Y, R, tau, T, lapack_work, lapack_int)
            else:
                householder_rows(Y, R, tau)
        elif part == 3:
            Y[:, :] = Yin
        else:
            x[:] = X[t]
            advance(kind, theta, M, x, xn, work)


def lyapunov_profile(M=20, n=2000):
    model = chaotic_plrnn(M, 3) if M == 20 else refrnn.PLRNN.random(M, 3, rng=0)
    x0 = model.simulate(np.full(M, 0.1), 1000)[-1]
    X = model.simulate(x0, n)[:-1]
    Q0 = np.linalg.qr(np.random.default_rng(0).standard_normal((M, M)))[0]
    k, th = model.kind, _kernels.kernel_layout(model.kind, model.theta, model.M)
    J, Y, R = model.jacobian(x0), np.empty((M, M)), np.empty((M, M))
    Yin = (J @ Q0).T.copy()
    tau, w, x, xn, work = np.empty(M), np.empty((2, M)), np.empty(M), np.empty(M), np.empty(0)
    lapack = M >= refrnn.lyapunov._LAPACK_MIN_DIM  # the kernel's path at this size
    lapack_work, lapack_int = np.empty(lapack_qr_work_size(M, M)), np.zeros(8, np.int32)
    lapack_chars = np.zeros(2, np.int8)
    Qk, T = Q0.T.copy(), block_factors(M)  # the frame as the kernel keeps it: reflectors
    if lapack:
        householder_lapack(Qk, R, tau, T, lapack_work, lapack_int)
    else:
        householder_rows(Qk, R, tau)

    def piece(p):
        return lambda: _lyap_pieces(k, th, M, X, Yin, Qk.copy(), J.copy(), Y, R, tau.copy(),
                                    T.copy(), w, x, xn, work, p, lapack, lapack_work, lapack_int,
                                    lapack_chars)  # fmt: skip

    fns = {
        "lyapunov_spectrum (total)": lambda: refrnn.lyapunov_spectrum(
            model, x0, n, transient=0, tangent_transient=0, n_blocks=1, initial_frame=Q0
        ),
        "  jacobian": piece(0),
        "  (J Q)^T: transpose J, apply the reflectors (dgemqrt) (+ copy)"
        if lapack
        else "  (J Q)^T: transpose J, apply the reflectors (+ copy)": piece(1),
        "  householder_lapack (dgeqrt) (+ copy of the frame)"
        if lapack
        else "  householder_rows (+ copy of the frame)": piece(2),
        "  copy of the frame": piece(3),
        "  step of the map (advance)": piece(4),
    }
    res = measure(fns, repeats=10, budget=3.0)
    for v in res.values():
        for key in ("median", "min", "cpu"):
            v[key] /= n
    return res


def main():
    numba.set_num_threads(1)
    lines = ["# Profile of refrnn's kernels (one thread)", ""]
    lines.append(f"load average at start: {load_average()}")
    lines.append("")
    for title, res in (
        ("STF-BPTT, PLRNN, S=16 T=200 M=20 tau=10 (time per call)", bptt_profile("plrnn")),
        ("STF-BPTT, vanilla RNN, same sizes (time per call)", bptt_profile("vanilla")),
        ("Lyapunov spectrum, PLRNN M=20 (time per step)", lyapunov_profile(20)),
        ("Lyapunov spectrum, PLRNN M=300 (time per step)", lyapunov_profile(300, 10)),
    ):
        lines += [f"## {title}", "", "| piece | median | min |", "|---|---:|---:|"]
        for name, v in res.items():
            lines.append(f"| `{name}` | {v['median'] * 1e6:.1f} µs | {v['min'] * 1e6:.1f} µs |")
        lines.append("")
        print("\n".join(lines[-len(res) - 5 :]), flush=True)
    lines.append(f"load average at end: {load_average()}")
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "profile.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
