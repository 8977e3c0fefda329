r"""Check another implementation's numbers against refrnn: ``refrnn verify FILE.npz``.

The file schema
---------------
An ``.npz`` archive (no pickles) with the *inputs*:

=====================  ===================  ===============================================
key                    shape / type         meaning
=====================  ===================  ===============================================
``model``              str                  ``"PLRNN"``, ``"VanillaRNN"`` or ``"ShallowPLRNN"``
                                            (or use ``system``)
``A``, ``W``, ``h``    (M,), (M, M), (M,)   PLRNN parameters (W with zero diagonal), or
``AW``                 (M, M)               a combined matrix: diag = A, off-diagonal = W
``W``, ``b``           (M, M), (M,)         VanillaRNN parameters
``A``, ``W1``, ``W2``, (M,), (M, L),        ShallowPLRNN parameters
``h1``, ``h2``         (L, M), (M,), (L,)
``B``                  (N, M)               linear readout (omit for the identity readout)
``n_obs``              int                  N for the identity readout
``X``                  (S, T+1, N)          observation windows
``tau``                int                  forcing interval; absent or <= 0 means None
``detach_forcing``     bool or 0/1          linear readout: 1 if your gradient treats the
                                            forcing states B^+ x as constant data; absent
                                            or 0: differentiated through B^+ (as
                                            :func:`refrnn.loss_and_grad` by default)
``system``             str                  instead of ``model``: a class of
                                            :mod:`refrnn.systems` (spectra only), with
``system_params``      str (JSON)           its constructor arguments, e.g. ``{"dt": 0.01}``
=====================  ===================  ===============================================

and any subset of the *results* to check:

============================  ===============  ==========================================
key                           shape            refrnn computes
============================  ===============  ==========================================
``loss``                      ()               :func:`refrnn.loss_and_grad` loss
``grad_<name>``               like the param   its gradient (``grad_W`` of a PLRNN: the
                                               diagonal is ignored, it is not a parameter)
``Z``                         (S, T+1, M)      latent states before forcing (``forward``)
``X_hat``                     (S, T+1, N)      predictions
``state_grads``               (S, T+1, M)      :math:`\partial L/\partial z_t`
``jacobian_states``           (K, M)           states at which ...
``jacobians``                 (K, M, M)        ... the Jacobians dF/dz were evaluated
``log_norms``                 (T,)             log ||J_t ... J_1|| along the free run from
``log_norms_z0``              (M,)             this initial state
``ftle``                      (M,)             finite-time exponents of the same run, with
``ftle_z0``, ``ftle_steps``   (M,), int        initial state and length
``lyapunov``                  (k,)             spectrum (per step; per unit time for flows)
``lyapunov_z0``               (M,)             from this state, with ``lyapunov_steps``,
``lyapunov_transient``        int              ``lyapunov_transient`` (default 1000) and
``lyapunov_tangent_transient``  int            ``lyapunov_tangent_transient`` (default 1000)
============================  ===============  ==========================================

Tolerances default to :data:`refrnn.testing.TOLERANCES`; a file may tighten any of them
with a JSON string ``tolerances`` (``{"grad": {"rtol": 1e-12}}``); looser values, unknown
quantities and unknown keys are errors. Lyapunov exponents are
statistical estimates of a chaotic orbit that round-off makes diverge between codes, so
they are compared with ``max(atol + rtol * scale, 4 * stderr)`` using refrnn's own
batch-means standard error.

Golden reference vectors
------------------------
``refrnn/golden/`` ships files in exactly this schema (inputs *and* results, computed by
refrnn) with a ``manifest.json`` listing each case's id, comment, flags and tolerances.
:func:`regenerate` rewrites them deterministically; :func:`check_golden` recomputes every
case and compares with the shipped results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .bptt import forward, loss_and_grad
from .io import atomic_savez, load_npz
from .testing import TOLERANCES, Comparison, compare

__all__ = [
    "verify_file",
    "verify_arrays",
    "VerifyReport",
    "regenerate",
    "check_golden",
    "GOLDEN_DIR",
    "FORMAT_VERSION",
]

GOLDEN_DIR = Path(__file__).parent / "golden"
# 2: the gradient through B^+ (detach_forcing, absent = False) became the default; golden
# files of format 1 held detached gradients of B.
FORMAT_VERSION = 2
_RESULT_KEYS = ("loss", "Z", "X_hat", "state_grads", "jacobians", "log_norms", "ftle", "lyapunov")


@dataclass
class VerifyReport:
    """Per-quantity comparisons of :func:`verify_arrays`; ``passed`` if all pass."""

    source: str
    rows: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    @property
    def passed(self):
        return bool(self.rows) and all(r.passed for r in self.rows)

    def __repr__(self):  # str(report) is the full table
        n_fail = sum(not r.passed for r in self.rows)
        return (
            f"VerifyReport(source={self.source!r}, passed={self.passed}, "
            f"quantities={len(self.rows)}, failed={n_fail})"
        )

    def __str__(self):
        head = f"refrnn verify {self.source}"
        lines = [
            head,
            "=" * len(head),
            f"{'quantity':<22}{'max abs err':>13}{'max rel err':>13}{'rtol':>9}{'atol':>9}  result",
        ]
        for r in self.rows:
            lines.append(
                f"{r.name:<22}{r.max_abs:>13.3e}{r.max_rel:>13.3e}{r.rtol:>9.1e}"
                f"{r.atol:>9.1e}  {'pass' if r.passed else 'FAIL'}"
            )
            if not r.passed:
                lines.append(
                    f"{'':<22}worst at index {r.worst_index}: "
                    f"{r.actual_at_worst!r} (yours) vs {r.desired_at_worst!r} (refrnn)"
                )
        if not self.rows:
            lines.append("(no results to compare: add loss, grad_*, Z, ... to the file)")
        lines += [f"note: {n}" for n in self.notes]
        n_fail = sum(not r.passed for r in self.rows)
        lines.append(
            f"{'PASSED' if self.passed else 'FAILED'}: {len(self.rows) - n_fail} of "
            f"{len(self.rows)} quantities within tolerance"
        )
        return "\n".join(lines)


def _str(arrays, key, default=None):
    return str(arrays[key]) if key in arrays else default


def _bool(arrays, key, default=False):
    if key not in arrays:
        return default
    v = np.asarray(arrays[key])
    if v.shape != () or v.dtype.kind not in "biu" or int(v) not in (0, 1):
        raise ValueError(f"{key} must be a boolean scalar (True/False or 0/1), got {v!r}")
    return bool(v)


def _int(arrays, key, default=None):
    if key not in arrays:
        return default
    v = np.asarray(arrays[key])
    if v.shape != () or v.dtype.kind not in "iuf" or float(v) != int(v):
        raise ValueError(f"{key} must be an integer scalar, got {v!r}")
    return int(v)


def build_model(arrays, source="file"):
    """The refrnn model (or reference system) described by the input keys of the schema."""
    from . import systems
    from .interop import plrnn_from_combined
    from .models import PLRNN, ShallowPLRNN, VanillaRNN

    if "system" in arrays:
        name = _str(arrays, "system")
        cls = getattr(systems, name, None)
        if not (isinstance(cls, type) and issubclass(cls, systems.DynamicalSystem)):
            raise ValueError(f"{source}: unknown system {name!r}")
        return cls(**json.loads(_str(arrays, "system_params", "{}")))
    if "model" not in arrays:
        raise ValueError(
            f"{source}: missing required key 'model' (or 'system'); present: {sorted(arrays)}"
        )
    kind = _str(arrays, "model")
    n_obs = _int(arrays, "n_obs")
    B = arrays.get("B")
    readout = {} if B is not None else {"readout": "identity", "n_obs": n_obs}
    if B is None and n_obs is None:
        raise ValueError(f"{source}: give B (linear readout) or n_obs (identity readout)")

    def need(*keys):
        missing = [k for k in keys if k not in arrays]
        if missing:
            raise ValueError(f"{source}: model {kind!r} needs key(s) {missing}")
        return [arrays[k] for k in keys]

    if kind == "PLRNN":
        if "AW" in arrays:
            (AW, h) = need("AW", "h")
            return plrnn_from_combined(AW, h, B, n_obs=None if B is not None else n_obs)
        A, W, h = need("A", "W", "h")
        return PLRNN(A, W, h, B, **readout)
    classes = {cls.__name__: cls for cls in (VanillaRNN, ShallowPLRNN)}
    if kind in classes:
        cls = classes[kind]
        return cls(*need(*cls.equations.PARAM_NAMES), B, **readout)
    raise ValueError(
        f"{source}: model must be one of 'PLRNN', {', '.join(map(repr, classes))}, got {kind!r}"
    )


def _tolerances(arrays):
    """The tolerance table, tightened by the file's own ``tolerances`` (JSON), if any.

    A file may only make a check stricter: a looser value, an unknown quantity or an
    unknown key raises ``ValueError`` (a misspelt key would otherwise be silently ignored
    and a loose one would let a wrong result pass).
    """
    tol = {k: dict(v) for k, v in TOLERANCES.items()}
    if "tolerances" not in arrays:
        return tol
    try:
        given = json.loads(_str(arrays, "tolerances"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"tolerances must be a JSON object, got invalid JSON: {exc}") from exc
    if not isinstance(given, dict):
        raise ValueError(f"tolerances must be a JSON object, got {type(given).__name__}")
    for q, entry in given.items():
        if q not in tol:
            raise ValueError(f"tolerances: unknown quantity {q!r}; known: {sorted(tol)}")
        if not isinstance(entry, dict) or set(entry) - {"rtol", "atol"}:
            raise ValueError(
                f"tolerances[{q!r}] must be an object with keys 'rtol' and/or 'atol', got {entry!r}"
            )
        for k, v in entry.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise ValueError(f"tolerances[{q!r}][{k!r}] must be a number >= 0, got {v!r}")
            if v > tol[q][k]:
                raise ValueError(
                    f"tolerances[{q!r}][{k!r}] = {v!r} is looser than refrnn's {tol[q][k]!r}; "
                    f"a file may only tighten the tolerance table"
                )
            tol[q][k] = float(v)
    return tol


def compute(model, arrays, keys):
    """refrnn's values of the result ``keys`` for the inputs in ``arrays``."""
    from .jacobians import finite_time_lyapunov_exponents, log_jacobian_product_norms

    # each result needs its inputs; name what is missing instead of a KeyError
    needs = {
        "jacobians": ("jacobian_states",),
        "log_norms": ("log_norms_z0",),
        "ftle": ("ftle_z0", "ftle_steps"),
        "lyapunov": ("lyapunov_z0", "lyapunov_steps"),
    }
    for result, inputs in needs.items():
        missing = [k for k in inputs if k not in arrays]
        if result in keys and missing:
            raise ValueError(f"{result!r} needs the input(s) {missing}, absent from the file")
    from .lyapunov import lyapunov_spectrum

    out = {}
    tau = _int(arrays, "tau")
    tau = tau if tau is not None and tau > 0 else None
    if any(k in keys for k in ("loss", "Z", "X_hat", "state_grads")) or any(
        k.startswith("grad_") for k in keys
    ):
        if "X" not in arrays:
            raise ValueError("loss, gradients and trajectories need the data 'X'")
        X = arrays["X"]
        detach = _bool(arrays, "detach_forcing")
        loss, grads, gz = loss_and_grad(
            model, X, tau, return_state_grads=True, detach_forcing=detach
        )
        traj = forward(model, X, tau)
        out.update(loss=np.float64(loss), Z=traj.Z, X_hat=traj.X_hat, state_grads=gz)
        out.update({f"grad_{k}": v for k, v in grads.items()})
    if "jacobians" in keys:
        out["jacobians"] = np.stack([model.jacobian(z) for z in arrays["jacobian_states"]])
    if "log_norms" in keys:
        out["log_norms"] = log_jacobian_product_norms(
            model, arrays["log_norms_z0"], len(arrays["log_norms"])
        )
    if "ftle" in keys:
        out["ftle"] = finite_time_lyapunov_exponents(
            model, arrays["ftle_z0"], _int(arrays, "ftle_steps")
        )
    if "lyapunov" in keys:
        spec = lyapunov_spectrum(
            model,
            arrays["lyapunov_z0"],
            _int(arrays, "lyapunov_steps"),
            transient=_int(arrays, "lyapunov_transient", 1000),
            tangent_transient=_int(arrays, "lyapunov_tangent_transient", 1000),
            k=len(arrays["lyapunov"]),
        )
        out["lyapunov"], out["lyapunov_stderr"] = spec.exponents, spec.stderr
    return out


def verify_arrays(arrays, *, source="arrays"):
    """Recompute every result present in ``arrays`` and compare; see the module docstring.

    Returns
    -------
    VerifyReport
    """
    model = build_model(arrays, source)
    keys = [k for k in arrays if k in _RESULT_KEYS or k.startswith("grad_")]
    report = VerifyReport(source)
    if not keys:
        return report
    try:
        tol = _tolerances(arrays)
        ours = compute(model, arrays, keys)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None
    if getattr(model, "readout", None) == "linear" and "grad_B" in keys:
        report.notes.append(
            "grad_B: the forcing states B^+ x are treated as constant data (detach_forcing=1)"
            if _bool(arrays, "detach_forcing")
            else "grad_B: includes the path through the forcing states B^+ x (set "
            "detach_forcing=1 in the file if your code treats them as data)"
        )
    for k in keys:
        if k not in ours:
            report.notes.append(f"{k}: refrnn has no such quantity for this model; skipped")
            continue
        theirs = np.asarray(arrays[k], dtype=np.float64)
        ref = ours[k]
        if k == "grad_W" and type(model).__name__ == "PLRNN" and theirs.shape == ref.shape:
            theirs = theirs.copy()
            np.fill_diagonal(theirs, 0.0)
        quantity = _quantity(k)
        t = tol[quantity]
        if theirs.shape != np.shape(ref):
            report.rows.append(
                Comparison(k, np.inf, np.inf, (), np.nan, np.nan, t["rtol"], t["atol"], False)
            )
            report.notes.append(f"{k}: shape {theirs.shape}, refrnn's is {np.shape(ref)}")
            continue
        atol = t["atol"]
        if k == "lyapunov":
            # statistical estimate: allow 4 standard errors of refrnn's own estimate
            scale = float(np.max(np.abs(ref)))
            atol = max(atol, float(np.nanmax(4 * ours["lyapunov_stderr"])) - t["rtol"] * scale)
        report.rows.append(compare(theirs, ref, rtol=t["rtol"], atol=atol, name=k))
    return report


def verify_file(path):
    """:func:`verify_arrays` on an ``.npz`` file (loaded with ``allow_pickle=False``)."""
    return verify_arrays(load_npz(path), source=str(path))


# ======================================================================================
# golden vectors
def _cases():
    """The golden cases: (id, comment, flags, inputs, result keys, tolerance overrides)."""
    from . import systems
    from .models import PLRNN, ShallowPLRNN, VanillaRNN

    cases = []

    def params_of(model):
        p = model.params
        d = {"model": type(model).__name__, **p}
        if model.readout == "identity":
            d["n_obs"] = np.int64(model.N)
        return d

    bptt_keys = ("loss", "Z", "X_hat", "state_grads", "grad_")
    seed = 0
    for cls, kw in ((PLRNN, {}), (VanillaRNN, {"gain": 1.5})):
        for readout in ("linear", "identity"):
            for tau in (None, 1, 7):
                rng = np.random.default_rng(seed)  # seeds 0..11, as in format 1
                seed += 1
                m = cls.random(6, 3, rng=rng, readout=readout, **kw)
                X = rng.normal(size=(3, 31, 3))
                tname = "none" if tau is None else str(tau)
                flags = ["forced-every-step"] if tau == 1 else []
                cases.append(
                    (
                        f"{cls.__name__.lower()}-{readout}-tau{tname}",
                        f"{cls.__name__}, M=6, N=3, {readout} readout, S=3 windows of "
                        f"T=30 steps, tau={tau}"
                        + (", gradient through B^+" if readout == "linear" else ""),
                        flags,
                        {**params_of(m), "X": X, "tau": np.int64(tau or 0)},
                        bptt_keys,
                        {},
                    )
                )
                if readout == "linear":  # the same inputs, forcing states as data
                    cases.append(
                        (
                            f"{cls.__name__.lower()}-{readout}-tau{tname}-detached",
                            f"as {cases[-1][0]}, with the forcing states B^+ x treated as "
                            f"constant data (detach_forcing=True): only grad_B differs",
                            [*flags, "detached-forcing"],
                            {**cases[-1][3], "detach_forcing": np.bool_(True)},
                            bptt_keys,
                            {},
                        )
                    )
    # the shallow PLRNN (added in format 2 without changing the other cases)
    for i, (readout, tau) in enumerate((("linear", 7), ("identity", 7), ("linear", None))):
        rng = np.random.default_rng(200 + i)
        m = ShallowPLRNN.random(6, 3, L=10, rng=rng, readout=readout)
        m = m.replace(h2=rng.uniform(-0.5, 0.5, size=10))  # kinks away from z = 0
        tname = "none" if tau is None else str(tau)
        cases.append(
            (
                f"shallowplrnn-{readout}-tau{tname}",
                f"ShallowPLRNN, M=6, L=10, N=3, {readout} readout, S=3 windows of T=30 "
                f"steps, tau={tau}" + (", gradient through B^+" if readout == "linear" else ""),
                [],
                {**params_of(m), "X": rng.normal(size=(3, 31, 3)), "tau": np.int64(tau or 0)},
                bptt_keys,
                {},
            )
        )
    # relu kink: h = 0, identity readout, data with exact zeros forced every step, so that
    # step inputs sit exactly at z = 0 where relu'(0) = 0 is the convention
    rng = np.random.default_rng(100)
    m = PLRNN.random(5, 3, rng=rng, readout="identity").replace(h=np.zeros(5))
    X = rng.normal(size=(2, 11, 3))
    X[:, ::2, 1] = 0.0
    cases.append(
        (
            "plrnn-relu-boundary",
            "PLRNN with inputs exactly at the relu kink (relu'(0) = 0), identity readout, tau=1",
            ["relu-boundary", "forced-every-step"],
            {
                **params_of(m),
                "X": X,
                "tau": np.int64(1),
                "jacobian_states": np.array([[0.0, 1.0, -1.0, 0.0, 2.0]]),
            },
            bptt_keys + ("jacobians",),
            {},
        )
    )
    # long horizon: plain BPTT over 1000 steps of a contracting PLRNN
    rng = np.random.default_rng(101)
    m = PLRNN.random(8, 2, rng=rng)
    m = m.replace(A=0.5 * m.params["A"], W=0.5 * m.params["W"])
    cases.append(
        (
            "plrnn-long-horizon",
            "contracting PLRNN, plain BPTT over T=1000",
            ["long-horizon"],
            {**params_of(m), "X": rng.normal(size=(2, 1001, 2)), "tau": np.int64(0)},
            bptt_keys,
            {},
        )
    )
    # Jacobian products, FTLEs and spectra of a chaotic vanilla RNN
    rng = np.random.default_rng(102)
    m = VanillaRNN.random(8, 2, rng=rng, gain=2.0)
    z0 = rng.normal(size=8)
    cases.append(
        (
            "vanilla-chaotic-jacobian-products",
            "vanilla RNN, gain 2: log norms of "
            "Jacobian products over 500 steps, FTLEs over 200, 3 leading exponents",
            ["long-horizon"],
            {
                **params_of(m),
                "log_norms_z0": z0,
                "log_norms": np.zeros(500),
                "ftle_z0": z0,
                "ftle_steps": np.int64(200),
                "ftle": np.zeros(8),
                "lyapunov_z0": z0,
                "lyapunov_steps": np.int64(20000),
                "lyapunov": np.zeros(3),
                "jacobian_states": rng.normal(size=(4, 8)),
            },
            ("log_norms", "ftle", "lyapunov", "jacobians"),
            {},
        )
    )
    for name, params, k in (("Henon", {}, 2), ("Lorenz63", {"dt": 0.01}, 3)):
        sysm = getattr(systems, name)(**params)
        cases.append(
            (
                f"lyapunov-{name.lower()}",
                f"{name} spectrum, 20000 steps",
                [],
                {
                    "system": name,
                    "system_params": json.dumps(params),
                    "lyapunov_z0": sysm.initial_state(),
                    "lyapunov_steps": np.int64(20000),
                    "lyapunov": np.zeros(k),
                },
                ("lyapunov",),
                {},
            )
        )
    return cases


def regenerate(directory=GOLDEN_DIR):
    """Recompute every golden case and write ``<id>.npz`` files and ``manifest.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {
        "format_version": FORMAT_VERSION,
        "schema": "refrnn.verify module docstring",
        "cases": [],
    }
    for cid, comment, flags, inputs, keys, tol in _cases():
        model = build_model(inputs, cid)
        want = _result_names(model, keys)
        ours = compute(model, inputs, want)
        arrays = {
            **{k: v for k, v in inputs.items() if k not in _RESULT_KEYS},
            **{k: ours[k] for k in want},
        }
        tolerances = {q: {**TOLERANCES[q], **tol.get(q, {})} for q in _quantities(want)}
        arrays["tolerances"] = json.dumps(tolerances)
        atomic_savez(directory / f"{cid}.npz", **arrays)
        manifest["cases"].append(
            {
                "id": cid,
                "file": f"{cid}.npz",
                "comment": comment,
                "flags": flags,
                "quantities": want,
                "tolerances": tolerances,
            }
        )
    text = json.dumps(manifest, indent=2) + "\n"
    tmp = directory / ".manifest.json.tmp"
    tmp.write_text(text)
    tmp.replace(directory / "manifest.json")
    return manifest


def _result_names(model, keys):
    names = []
    for k in keys:
        if k == "grad_":
            names += [f"grad_{p}" for p in model.params]
        else:
            names.append(k)
    return names


def _quantity(key):
    """The :data:`~refrnn.testing.TOLERANCES` entry that judges result ``key``."""
    if key.startswith("grad_"):
        return "grad"
    return {
        "loss": "loss",
        "Z": "trajectory",
        "X_hat": "trajectory",
        "state_grads": "grad",
        "jacobians": "jacobian",
        "log_norms": "jacobian_product",
        "ftle": "ftle",
        "lyapunov": "lyapunov",
    }[key]


def _quantities(keys):
    return sorted({_quantity(k) for k in keys})


def check_golden(directory=GOLDEN_DIR):
    """Verify every case of ``directory/manifest.json``; returns ``{case id: VerifyReport}``."""
    directory = Path(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{directory}: golden format {manifest.get('format_version')}, "
            f"this refrnn reads {FORMAT_VERSION}"
        )
    return {c["id"]: verify_file(directory / c["file"]) for c in manifest["cases"]}
