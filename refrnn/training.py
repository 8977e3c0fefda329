r"""Training with sparsely forced BPTT (Mikhaeil, Monfared & Durstewitz 2022, Alg. 1).

Each epoch draws ``batches_per_epoch`` batches of ``batch_size`` random windows of
``seq_len + 1`` observations from the training series, computes the STF loss and its
gradient with :func:`refrnn.loss_and_grad` (forcing every ``tau`` steps), optionally clips
the gradient's global norm, and takes a hand-written Adam step (Kingma & Ba 2015):

.. math::

    m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
    v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
    \theta \leftarrow \theta - \eta\,\frac{m / (1-\beta_1^k)}{\sqrt{v / (1-\beta_2^k)} + \epsilon}.

Defaults follow the paper: Adam with :math:`\eta = 10^{-3}`, 32 windows of 100 steps per
batch, 10 batches per epoch, no clipping for STF. The baseline of the paper is plain BPTT
(``tau=None``) with the gradient norm clipped to 1 (``clip_norm=1``).

``tau`` is fixed for the whole run: unlike the paper's released code, nothing anneals it.
``tau="auto"`` sets :math:`\tau = \mathrm{round}(f \ln 2/\lambda_{max})` once (``f`` =
``tau_fraction``, 0.3 by default), from a given :math:`\lambda_{max}` (per step) or from
one estimated from the series (Rosenstein's method), and records how it was obtained.
``alpha`` switches to generalized teacher forcing (Hess et al. 2023), fixed or adaptive.
``ema_decay`` keeps an exponential moving average of the parameters beside the iterates
(iterate averaging, Polyak & Juditsky 1992), which the evaluations then score.

The loop in :func:`train` reads as the algorithm: per epoch, :func:`_batch_step` for each
batch (loss and gradient, clipping, Adam), then :func:`_evaluate` every ``eval_every``
epochs, the history and the checkpoint; :func:`_start_or_resume` sets up the run.
"""

from __future__ import annotations

import json
import math
import numbers
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from . import _batched, _kernels
from . import lyapunov as _lyapunov
from . import metrics as _metrics
from ._console import ProgressBar
from ._linalg import one_blas_thread
from ._validation import (
    DivergenceError,
    as_alpha,
    as_bool,
    as_float_array,
    as_positive_int,
    as_real,
    as_rng,
    check_allocation,
)
from .bptt import loss_and_grad, warm_start
from .io import atomic_savez, load_npz, model_from_arrays, model_to_arrays
from .jacobians import jacobian_spectral_norms
from .models import RNNModel

__all__ = ["train", "TrainResult", "Adam", "resolve_tau", "TrainingDiverged"]


# Largest forcing interval at which the identity readout was measured to learn Lorenz-63
# (docs/results/identity_readout.md); train() warns above it.
IDENTITY_MAX_TAU = 10

# train(window_sampling=...): independent draws per batch, or distinct starts per epoch
WINDOW_SAMPLINGS = ("with_replacement", "without_replacement")

# Run settings added to the checkpoint record after 0.4.0, with the value that a run
# without them used: an older checkpoint resumes as long as the run keeps that value.
_LATER_CONFIG_DEFAULTS = {
    "window_sampling": "with_replacement",
    "lr_decay_start": 0,
    "ema_decay": None,
}


class TrainingDiverged(DivergenceError):
    """The loss or gradient became non-finite during training."""


# ======================================================================================
class Adam:
    """Adam optimiser over a dict of float64 arrays (hand-written, no autograd framework).

    Parameters
    ----------
    lr : float
        Learning rate :math:`\\eta`.
    betas : (float, float)
        Decay rates :math:`(\\beta_1, \\beta_2)` of the first and second moments.
    eps : float
        :math:`\\epsilon` in the denominator.
    """

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        if not (self.lr > 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1 and self.eps > 0):
            raise ValueError(f"invalid Adam settings lr={lr}, betas={betas}, eps={eps}")
        self.m, self.v, self.k = {}, {}, 0

    def __repr__(self):
        return (
            f"Adam(lr={self.lr:g}, betas=({self.beta1:g}, {self.beta2:g}), eps={self.eps:g}, "
            f"steps={self.k})"
        )

    def step(self, params, grads):
        """Return updated parameters; the moment estimates are updated in place."""
        self.k += 1
        b1, b2 = self.beta1, self.beta2
        c1, c2 = 1.0 - b1**self.k, 1.0 - b2**self.k  # bias corrections
        new = {}
        for name, g in grads.items():
            m = self.m.setdefault(name, np.zeros_like(g))
            v = self.v.setdefault(name, np.zeros_like(g))
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            new[name] = params[name] - self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
        return new

    def state_arrays(self, prefix="adam."):
        out = {prefix + "k": np.int64(self.k)}
        out.update({prefix + "m." + k: v for k, v in self.m.items()})
        out.update({prefix + "v." + k: v for k, v in self.v.items()})
        return out

    def load_state_arrays(self, arrays, prefix="adam."):
        self.k = int(arrays[prefix + "k"])
        self.m = {
            k[len(prefix) + 2 :]: np.array(v)
            for k, v in arrays.items()
            if k.startswith(prefix + "m.")
        }
        self.v = {
            k[len(prefix) + 2 :]: np.array(v)
            for k, v in arrays.items()
            if k.startswith(prefix + "v.")
        }


def global_norm(grads):
    """:math:`\\sqrt{\\sum_k \\lVert g_k \\rVert_F^2}` over all gradient arrays."""
    return math.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))


# ======================================================================================
#: Default of ``tau_fraction``: tau = "auto" forces every round(0.3 tau_pred) steps. In the
#: tau sweep (docs/results/tau_sweep.md; Lorenz-63, tau_pred = 76.4 steps, 3 seeds) the
#: best test D_stsp came at tau = 20 and 30 (0.26 and 0.39 tau_pred: 0.44 +- 0.08 and
#: 0.53 +- 0.06), worse at 10 and 50; Mikhaeil et al. (2022, Sect. 5) likewise found the
#: optimum below tau_pred. 0.3 lies between the two best points.
TAU_FRACTION = 0.3


def resolve_tau(tau, X=None, *, lambda_max=None, tau_fraction=TAU_FRACTION):
    """Turn the ``tau`` argument of :func:`train` into an int (or None) and a description.

    Parameters
    ----------
    tau : int, None or "auto"
    X : ndarray, shape (T, N), optional
        Training series, used to estimate :math:`\\lambda_{max}` when ``tau="auto"`` and
        ``lambda_max`` is not given.
    lambda_max : float, optional
        Largest Lyapunov exponent *per time step of the series* (for a flow sampled every
        ``dt``: the per-unit-time exponent times ``dt``).
    tau_fraction : float in (0, 1]
        ``tau="auto"`` is ``round(tau_fraction * ln 2 / lambda_max)`` (at least 1), a
        fraction of the predictability time; default :data:`TAU_FRACTION`.

    Returns
    -------
    tau : int or None
    source : str
        How the value was obtained, recorded in the training history.
    """
    if isinstance(tau_fraction, bool) or not isinstance(tau_fraction, numbers.Real):
        raise TypeError(f"tau_fraction must be a number, got {type(tau_fraction).__name__}")
    if not 0.0 < float(tau_fraction) <= 1.0:
        raise ValueError(f"tau_fraction must be in (0, 1], got {tau_fraction}")
    if tau is None:
        return None, "none: plain BPTT (only z_0 inferred from data)"
    if isinstance(tau, str):
        if tau != "auto":
            raise ValueError(f'tau must be an int >= 1, None or "auto", got {tau!r}')
        if lambda_max is None:
            if X is None:
                raise ValueError('tau="auto" needs lambda_max or the series X to estimate it')
            try:
                est = _lyapunov.lyapunov_from_series(X)
            except ValueError as exc:
                raise ValueError(
                    f'tau="auto" could not estimate lambda_max from the series ({exc}); pass '
                    f"lambda_max or an int tau"
                ) from exc
            lam, how = float(est.lambda_max), "estimated from the series (Rosenstein)"
            if not est.linear:  # lyapunov_from_series has said why; say what it means here
                how += ", unreliable: the divergence curve has no clear linear region"
                warnings.warn(
                    f'tau="auto": lambda_max = {lam:.4g} per step was estimated from a '
                    f"divergence curve without a clear linear region, so tau is a guess; "
                    f"check that the series is chaotic, or give tau or lambda_max",
                    UserWarning,
                    stacklevel=3,
                )
        else:
            lam, how = as_real("lambda_max", lambda_max), "given lambda_max"
        if not (np.isfinite(lam) and lam > 0):
            raise ValueError(
                f'tau="auto" needs a positive lambda_max (chaotic data), got {lam:g} ({how})'
            )
        value = max(1, int(round(tau_fraction * math.log(2.0) / lam)))
        return value, (
            f"auto: round({tau_fraction:g} ln 2 / lambda_max) with lambda_max = {lam:.6g} "
            f"per step, {how}"
        )
    return as_positive_int("tau", tau), "given"


# ======================================================================================
@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes
    ----------
    model : RNNModel
        The trained model: the optimiser's last iterate (with ``ema_decay``, see
        ``averaged_model``).
    history : dict of ndarray
        Per epoch (length ``n_epochs``): ``epoch``, ``loss`` (mean over batches),
        ``grad_norm`` (mean global norm before clipping), ``grad_norm_max``, ``d_stsp``
        (median state-space divergence of ``eval_starts`` free runs against
        ``eval_data``; NaN on epochs without evaluation, ``inf`` when most free runs
        diverged), ``d_stsp_min`` / ``d_stsp_max`` (their range), ``wall_time`` (seconds
        since the start, cumulative over resumes).
    tau : int or None
        The forcing interval used for the whole run.
    tau_source : str
        How ``tau`` was obtained.
    config : dict
        All settings of the run; with a ``checkpoint``, also the fingerprints (short
        SHA-1 hashes) of the training and evaluation series, the initial model and the
        seed, which a resumed run must match (``data_fingerprint``,
        ``eval_data_fingerprint``, ``initial_model_fingerprint``; ``rng_fingerprint``,
        None for ``rng=None``).
    best_model : RNNModel or None
        The model at the evaluation with the lowest median D_stsp of ``eval_starts`` free
        runs (against ``eval_data``, by default the training series), None if no
        evaluation ran or every evaluation diverged. Chaotic training is noisy: a model
        can sit on a good attractor at one epoch and on a cycle a few epochs later, so
        comparisons of training methods select models this way -- identically for every
        method, on data other than the test data.
    best_epoch : int or None
        Epoch (0-based) of ``best_model``.
    averaged_model : RNNModel or None
        With ``train(ema_decay=...)``: the exponential moving average of the parameters
        after the last batch (see :func:`train`); None otherwise. ``model`` is then still
        the optimiser's last iterate, while ``history["d_stsp"]``, ``best_model`` and
        ``selection`` refer to the averaged parameters.
    """

    model: RNNModel
    history: dict
    tau: int | None
    tau_source: str
    config: dict = field(default_factory=dict)
    best_model: RNNModel | None = None
    best_epoch: int | None = None
    averaged_model: RNNModel | None = None

    def __repr__(self):
        h = self.history
        n = len(h["epoch"]) if "epoch" in h else 0
        loss = f"{h['loss'][-1]:.4g}" if n else "n/a"
        return (
            f"TrainResult(model={self.model!r}, epochs={n}, tau={self.tau}, "
            f"final_loss={loss}, best_epoch={self.best_epoch})"
        )

    @property
    def final_model(self):
        """The run's model after the last batch as its evaluations saw it:
        ``averaged_model`` if the run kept a parameter average (``ema_decay``), else
        ``model``."""
        return self.model if self.averaged_model is None else self.averaged_model

    @property
    def selection(self):
        """How ``best_model`` was chosen, or None if it was not.

        A dict: ``epoch`` (0-based), ``d_stsp`` (its median score), ``d_stsp_range``
        (min, max over the free-run starts), ``n_starts``, ``series`` (what the free runs
        were compared with: ``"training series"`` unless ``eval_data`` was given),
        ``n_evaluations`` and ``evaluated_scores`` (median, min, max of the scores of all
        evaluations, to show how lucky the selected one is).
        """
        if self.best_epoch is None:
            return None
        h = self.history
        i = int(np.flatnonzero(h["epoch"] == self.best_epoch)[0])
        scores = h["d_stsp"][~np.isnan(h["d_stsp"])]
        return {
            "epoch": self.best_epoch,
            "d_stsp": float(h["d_stsp"][i]),
            "d_stsp_range": (float(h["d_stsp_min"][i]), float(h["d_stsp_max"][i])),
            "n_starts": self.config.get("eval_starts"),
            "series": self.config.get("eval_on"),
            "n_evaluations": int(scores.size),
            "evaluated_scores": (
                float(np.median(scores)),
                float(scores.min()),
                float(scores.max()),
            ),
        }


#: Adaptive GTF (Hess et al. 2023, Sect. 3.3), as configured in the authors' released code:
#: alpha is re-estimated every GTF_EVERY batches, from GTF_WINDOWS windows of the batch (a
#: cost bound; see :func:`gtf_alpha`), and relaxes towards a lower estimate with a time
#: constant of GTF_RELAX_FRACTION of the run's estimates (see :func:`gtf_decay`).
GTF_EVERY = 5
GTF_WINDOWS = 4
GTF_RELAX_FRACTION = 0.02


def gtf_decay(n_updates):
    r"""The annealing factor :math:`\gamma` for a run with ``n_updates`` alpha estimates.

    The released GTF code relaxes alpha towards a lower estimate as
    :math:`\alpha \leftarrow \gamma\alpha + (1-\gamma)\hat\alpha` with :math:`\gamma = 0.999`,
    i.e. with a time constant of :math:`1/(1-\gamma)` = 1000 estimates, in runs of 5000 epochs
    x 50 batches with an estimate every 5 batches: 50 000 estimates, so the time constant
    is 2 % of the run. A fixed 0.999 in a shorter run never lets alpha come down (after 800
    estimates it is still above :math:`0.999^{800} \approx 0.45` of its start), so refrnn
    keeps the *fraction* instead:

    .. math:: \gamma = 1 - \frac{1}{\max(1,\ 0.02\,n_\text{updates})},

    which is exactly 0.999 for the released configuration and 0 (alpha = the estimate) for
    runs of fewer than 50 estimates.

    Parameters
    ----------
    n_updates : int
        Number of alpha estimates in the run (``n_epochs * batches_per_epoch / GTF_EVERY``).

    Returns
    -------
    float in [0, 1)
    """
    return 1.0 - 1.0 / max(1.0, GTF_RELAX_FRACTION * float(n_updates))


def gtf_alpha(model, windows):
    r"""The GTF forcing strength that keeps the forced Jacobian products from growing.

    With :math:`\hat z_t` the forcing states of a window (``model.infer_state`` of its
    observations :math:`x_1..x_T`), the window's growth factor is the geometric mean of
    the spectral norms, :math:`G = (\prod_t \|J(\hat z_t)\|_2)^{1/T}`, an upper bound
    on the per-step growth of :math:`\|J_T\cdots J_1\|` along the forced trajectory.
    Generalized teacher forcing multiplies each factor by :math:`1-\alpha`, so
    :math:`(1-\alpha)\,G \le 1` for

    .. math:: \alpha = \max\big(0,\ 1 - 1/\max_{\text{windows}} G\big)

    ("product upper bound" of Hess, Monfared, Brenner & Durstewitz 2023, Sect. 3.3).

    Parameters
    ----------
    model : RNNModel
    windows : ndarray, shape (S, T+1, N)

    Returns
    -------
    float in [0, 1)
    """
    Zhat = model.infer_state(windows[:, 1:])
    S, T, M = Zhat.shape
    with np.errstate(divide="ignore"):
        log_norms = np.log(jacobian_spectral_norms(model, Zhat.reshape(S * T, M)))
    G = float(np.exp(np.max(log_norms.reshape(S, T).mean(axis=1))))
    return max(0.0, 1.0 - 1.0 / G) if G > 0 else 0.0


def _gtf_update(alpha, estimate, gamma):
    """The annealing rule of the released GTF code: jump up at once, decay slowly."""
    return estimate if estimate > alpha else gamma * alpha + (1.0 - gamma) * estimate


_HISTORY_KEYS = (
    "epoch",
    "loss",
    "grad_norm",
    "grad_norm_max",
    "d_stsp",
    "d_stsp_min",
    "d_stsp_max",
    "wall_time",
    "alpha",
)


def _rng_to_json(rng):
    return json.dumps(rng.bit_generator.state)


def _rng_from_json(text):
    state = json.loads(text)
    bitgen = getattr(np.random, state["bit_generator"])()
    bitgen.state = state
    return np.random.Generator(bitgen)


def _save_checkpoint(path, model, opt, rng, history, config, epoch, best, average):
    arrays = model_to_arrays(model)
    if average is not None:
        arrays.update({"average." + k: v for k, v in average.items()})
    if best[0] is not None:
        arrays.update(model_to_arrays(best[0], prefix="best."))
        arrays["best_epoch"] = np.int64(best[1])
    arrays.update(opt.state_arrays())
    arrays.update({"history." + k: np.asarray(v, dtype=float) for k, v in history.items()})
    arrays["rng_state"] = _rng_to_json(rng)
    arrays["config"] = json.dumps(config)
    arrays["epoch"] = np.int64(epoch)
    atomic_savez(path, **arrays)


def load_checkpoint(path):
    """Read a training checkpoint: ``(model, adam, rng, history, config, epoch, best,
    average)`` where ``best = (best_model or None, best_epoch or None)`` and ``average`` is
    the uncorrected moving average of the parameters (a dict of arrays, see
    :func:`_update_average`) or None if the run keeps none."""
    arrays = load_npz(path, required=("rng_state", "config", "epoch", "adam.k"))
    model = model_from_arrays(arrays, source=str(path))
    opt = Adam()
    opt.load_state_arrays(arrays)
    rng = _rng_from_json(str(arrays["rng_state"]))
    n = int(arrays["epoch"])
    # checkpoints written before GTF have no alpha history: sparse forcing, recorded as NaN
    history = {
        k: list(arrays["history." + k]) if "history." + k in arrays else [math.nan] * n
        for k in _HISTORY_KEYS
    }
    best = (None, None)
    if "best_epoch" in arrays:
        best = (model_from_arrays(arrays, "best.", source=str(path)), int(arrays["best_epoch"]))
    config = json.loads(str(arrays["config"]))
    average = {k[len("average.") :]: arrays[k] for k in arrays if k.startswith("average.")}
    return model, opt, rng, history, config, int(arrays["epoch"]), best, average or None


def _start_or_resume(model, rng, lr, config, checkpoint):
    """``(model, adam, rng, history, start_epoch, best, average)`` of a fresh run, or of the
    run in ``checkpoint`` (None: start fresh) after checking that it was made with
    ``config``. ``average`` is the zero-initialised moving average of the parameters if
    ``config["ema_decay"]`` is set, else None."""
    if checkpoint is None or not Path(checkpoint).exists():
        history = {k: [] for k in _HISTORY_KEYS}
        average = None
        if config["ema_decay"] is not None:
            average = {k: np.zeros_like(v, dtype=float) for k, v in model.params.items()}
        return model, Adam(lr), as_rng(rng), history, 0, (None, None), average
    model, opt, rng, history, saved, start_epoch, best, average = load_checkpoint(checkpoint)
    n_epochs = config["n_epochs"]
    if start_epoch > n_epochs:
        raise ValueError(
            f"cannot resume from {checkpoint}: it holds {start_epoch} epochs, more than "
            f"n_epochs={n_epochs}; ask for at least {start_epoch} or pass resume=False "
            f"(on the command line: refrnn train --restart)"
        )
    # n_epochs may grow on resume; the GTF gamma derived from it stays the saved one, so
    # that an extended run anneals alpha as it started
    derived = ("n_epochs", "alpha_gamma")
    # settings added in later versions: a checkpoint without one ran with its default
    saved = {**_LATER_CONFIG_DEFAULTS, **saved}
    changed = {
        k: (saved.get(k), v) for k, v in config.items() if k not in derived and saved.get(k) != v
    }
    if changed:
        # fingerprints say only *that* data, model or seed changed: name them, no hashes
        shown = {k: v for k, v in changed.items() if not k.endswith("fingerprint")}
        hashed = sorted(k for k in changed if k.endswith("fingerprint"))
        raise ValueError(
            f"cannot resume from {checkpoint}: settings differ from the checkpoint's"
            + (f" (saved, now): {shown}" if shown else "")
            + (f"{';' if shown else ':'} changed inputs: {', '.join(hashed)}" if hashed else "")
            + ". Pass resume=False (on the command line: refrnn train --restart) to start "
            "over (the checkpoint is then overwritten)"
        )
    config["alpha_gamma"] = saved.get("alpha_gamma")
    names = None if average is None else set(average)
    wanted = None if config["ema_decay"] is None else set(model.params)
    if names != wanted:
        raise ValueError(
            f"cannot resume from {checkpoint}: its run keeps a parameter average "
            f"(ema_decay={config['ema_decay']}) but the file holds "
            + ("none" if names is None else f"one of {sorted(names)}")
            + ". Pass resume=False (on the command line: refrnn train --restart) to start over"
        )
    return model, opt, rng, history, start_epoch, best, average


def _update_average(average, model, beta):
    r"""One step of the parameters' exponential moving average, in place:
    :math:`\bar\theta_k = \beta\bar\theta_{k-1} + (1-\beta)\theta_k` from
    :math:`\bar\theta_0 = 0`, with :math:`\theta_k` the parameters after Adam step k."""
    for k, v in model.params.items():
        a = average[k]
        a *= beta
        a += (1.0 - beta) * v


def _averaged_model(model, average, beta, k, epoch):
    r"""The model with the bias-corrected average :math:`\bar\theta_k / (1-\beta^k)`, i.e.
    the iterates :math:`\theta_j` weighted by :math:`\beta^{k-j}(1-\beta)/(1-\beta^k)`,
    weights that sum to one (as Adam corrects its moments; the initial parameters get no
    weight of their own). Raises TrainingDiverged if the average is not a valid model."""
    c = 1.0 - beta**k
    try:
        return model.replace(**{name: a / c for name, a in average.items()})
    except ValueError as exc:
        raise TrainingDiverged(
            f"in epoch {epoch} the averaged parameters (ema_decay) are not a valid model, "
            f"although the iterates are: {exc}"
        ) from exc


def _batch_step(model, opt, windows, forcing, tau, alpha, detach_forcing, clip_norm):
    """One gradient step on a batch: loss and gradient (:func:`refrnn.loss_and_grad`),
    clipping of the global norm, Adam. Returns ``(new model, loss, norm before clipping)``;
    raises DivergenceError if the loss, the gradient or the new parameters are not finite."""
    loss, grads = loss_and_grad(
        model, windows, tau, alpha=alpha, forcing=forcing, detach_forcing=detach_forcing
    )
    norm = global_norm(grads)
    if clip_norm is not None and norm > clip_norm:
        grads = {k: g * (clip_norm / norm) for k, g in grads.items()}
    try:
        model = model.replace(**opt.step(model.params, grads))
    except ValueError as exc:  # non-finite parameters after the update
        raise DivergenceError(f"parameters became invalid: {exc}") from exc
    return model, loss, norm


class _FusedBatchStep:
    """:func:`_batch_step` in one kernel call (:func:`refrnn._batched._train_batches`) per
    batch, or per epoch with :meth:`run`: loss and gradient with windows as the inner
    dimension, the path through B^+, clipping, Adam and the parameters' moving average,
    with no Python between them and no model validation -- the kernel checks what the
    constructor would. The numbers are :func:`_batch_step`'s (and
    :func:`_update_average`'s) up to the reordered sums of :mod:`refrnn._batched` (~1e-15
    relative per step; Adam's update is the same expression). For the model kinds of
    :data:`refrnn._kernels.BATCHED_KINDS`.

    The flat parameter vector is ``[theta | B.ravel()]``; Adam's moment dicts and the
    ``average`` dict (if given) are rebound to views into the flat arrays that the kernel
    updates, so that checkpoints (``Adam.state_arrays``) and the fallback to
    :func:`_batch_step` see the same state.
    """

    def __init__(self, model, opt, batch_size, seq_len, detach_forcing, clip_norm, average=None,
                 ema_decay=None):  # fmt: skip
        M, N = model.M, model.N
        self.identity = model.readout == "identity"
        self.through_pinv = not self.identity and not detach_forcing
        self.detach_forcing, self.clip_norm = detach_forcing, clip_norm
        self.P = model.theta.shape[0]
        names = model.equations.PARAM_NAMES + (() if self.identity else ("B",))
        shapes = {k: np.shape(v) for k, v in model.params.items()}
        size = self.P + (0 if self.identity else N * M)
        self.m, self.v, self.avg = np.zeros(size), np.zeros(size), np.zeros(size)
        self.average, self.ema = average, 0.0 if average is None else float(ema_decay)
        start = 0
        for k in names:
            n = math.prod(shapes[k])
            pairs = [(opt.m, self.m), (opt.v, self.v)]
            if average is not None:
                pairs.append((average, self.avg))
            for values, flat in pairs:
                if k in values:
                    flat[start : start + n] = np.ravel(values[k])
                values[k] = flat[start : start + n].reshape(shapes[k])
            start += n
        P_k = _kernels.kernel_layout(model.kind, model.theta, M).shape[0]
        # reused between runs on this thread, as by loss_and_grad: nothing in it outlives a
        # kernel call, and a fresh one costs page faults at first touch (measured: ~9 % of
        # a one-epoch run of 10 x 32 windows, T = 100, M = 20)
        self.ws = _batched.Workspace.reused(batch_size, seq_len, M, N, P_k)
        self.grad, self.new = np.empty(size), np.empty(size)
        self.Bpinv = np.empty((M, N))

    def __call__(self, model, opt, windows, forcing, tau, alpha, detach_forcing, clip_norm):
        """:func:`_batch_step`'s signature, plus the moving average; ``opt``,
        ``detach_forcing`` and ``clip_norm`` must be those given to the constructor."""
        model, losses, norms = self.run(model, opt, windows[None], forcing, tau, alpha)
        return model, losses[0], norms[0]

    def run(self, model, opt, windows, forcing, tau, alpha):
        """Training steps on the batches ``windows[0], windows[1], ...``, shape
        (n_b, S, T+1, N), in one kernel call; ``forcing`` (S, T+1, M) only with n_b = 1.

        Returns ``(model, losses, norms)``, the last two of shape (n_b,). A batch with a
        non-finite state, loss or gradient is handed to :func:`_batch_step` (its
        window-by-window path raises :class:`DivergenceError` saying where), invalid new
        parameters to the model's constructor (which raises it saying what is wrong).
        """
        tau_k, alpha_k = _batched.schedule(tau, alpha)
        if forcing is not None and len(windows) != 1:
            raise ValueError("forcing states are given for one batch at a time")
        # writable C arrays only: one compiled signature of the kernel (see there)
        windows = _batched.writable(windows)
        n_b, S, T1, N = windows.shape
        M, P = model.M, self.P
        every = tau_k if tau_k > 0 else T1
        F = self.ws.forcing(len(range(0, T1, every)))
        if forcing is not None:
            F[:] = forcing[:, ::every].transpose(1, 2, 0)
        losses, norms = np.empty(n_b), np.empty(n_b)
        done = 0
        while done < n_b:
            ks = range(opt.k + 1, opt.k + 1 + n_b - done)
            c1 = np.array([1.0 - opt.beta1**k for k in ks])  # as Adam.step, in Python floats
            c2 = np.array([1.0 - opt.beta2**k for k in ks])
            theta_k = _kernels.kernel_layout(model.kind, model.theta, M)  # updated in place
            B = np.zeros((1, 1)) if self.identity else model.B.copy()
            with _batched.blas_limit(M):
                status, b = _batched._train_batches(
                    model.kind, P, M, self.identity, theta_k, B, windows[done:], F,
                    forcing is not None, tau_k, alpha_k, self.through_pinv,
                    -1.0 if self.clip_norm is None else float(self.clip_norm), opt.lr,
                    opt.beta1, opt.beta2, opt.eps, c1, c2, self.m, self.v, self.ema, self.avg,
                    self.new, self.Bpinv, self.grad, losses[done:], norms[done:],
                    *self.ws.args(),
                )  # fmt: skip
            opt.k += b
            if b > 0:
                model = model._replace_trusted(theta_k[:P].copy(), None if self.identity else B)
            if status == 0:
                break
            if status == 1:
                # a non-finite state, loss or gradient: the window-by-window path says where
                model, losses[done + b], norms[done + b] = _batch_step(
                    model, opt, windows[done + b], forcing, tau, alpha, self.detach_forcing,
                    self.clip_norm,
                )  # fmt: skip
            else:  # let the constructor say what is wrong with the new parameters
                opt.k += 1
                params = model.unpack(self.new[:P].copy())
                if not self.identity:
                    params["B"] = self.new[P:].reshape(N, M).copy()
                try:
                    model = model.replace(**params)
                except ValueError as exc:
                    raise DivergenceError(f"parameters became invalid: {exc}") from exc
            if self.average is not None:
                _update_average(self.average, model, self.ema)
            done += b + 1
        return model, losses, norms


def _epoch_starts(s, rng):
    """The window starts of a whole epoch, shape (batches_per_epoch, batch_size), for
    ``window_sampling="without_replacement"`` (distinct starts, a prefix of a random
    permutation of all ``T - (seq_len + warmup)`` possible ones); None otherwise (each
    batch then draws its own starts in :func:`_draw_windows`)."""
    if s.window_sampling != "without_replacement":
        return None
    n_starts = s.X.shape[0] - (s.seq_len + s.warmup)
    chosen = rng.permutation(n_starts)[: s.batches_per_epoch * s.batch_size]
    return chosen.reshape(s.batches_per_epoch, s.batch_size)


def _segments(s, epoch):
    """The runs of batches ``(lo, hi)`` of an epoch that need no Python in between: the
    whole epoch, or with adaptive alpha the batches from one of its updates (every
    ``GTF_EVERY``-th batch of the run, counted over epochs) to the next."""
    n = s.batches_per_epoch
    if not s.auto_alpha:
        return [(0, n)]
    first = epoch * n
    cuts = [b for b in range(n) if (first + b) % GTF_EVERY == 0]
    if not cuts or cuts[0] != 0:  # the epoch starts between two updates
        cuts.insert(0, 0)
    return list(zip(cuts, cuts[1:] + [n], strict=True))


def _window_starts(X, S, T, rng, epoch_starts=None, batch=0):
    """Start indices (S,) of a batch of windows of ``T`` steps: batch ``batch`` of
    ``epoch_starts`` if it is given, else the draws of :func:`refrnn.data.sample_windows`
    from ``rng``, without validating the series again for every batch (:func:`train`
    has validated it once)."""
    if epoch_starts is None:
        return rng.integers(0, X.shape[0] - T, size=S, dtype=np.int64)
    return epoch_starts[batch]


def _epoch_window_starts(X, n_batches, S, T, rng, epoch_starts=None):
    """The starts of all ``n_batches`` batches of an epoch, shape (n_batches, S):
    ``epoch_starts`` if given, else one draw of ``n_batches * S`` starts. NumPy's bounded
    integers consume the bit generator value by value, whatever the size of the call, so
    this is what ``n_batches`` calls of :func:`_window_starts` draw, in the same order and
    leaving the generator in the same state, for one call's overhead (~5 us) instead of
    ``n_batches``. This holds for int64 draws (NumPy keeps the unused half of a 64-bit
    word, which its draws of ranges below 2**32 take 32 bits at a time, in the bit
    generator's state, not in the call) -- a property of NumPy's implementation, not a
    documented guarantee: the test checks it for the installed NumPy."""
    if epoch_starts is None:
        return rng.integers(0, X.shape[0] - T, size=(n_batches, S), dtype=np.int64)
    return epoch_starts


def _draw_windows(X, S, T, rng, epoch_starts=None, batch=0):
    """The windows (S, T+1, N) starting at :func:`_window_starts`."""
    return _batched.gather_windows(X, _window_starts(X, S, T, rng, epoch_starts, batch), T)


def _selection_starts(T, n_starts):
    """Start indices of the selection free runs: evenly spread over a series of length T."""
    return [int(i) for i in np.linspace(0, T, n_starts, endpoint=False)]


def _fingerprint(*arrays):
    """Short SHA-1 of arrays' shapes and float64 bytes (identifies a run's inputs)."""
    import hashlib

    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _fingerprint_rng(rng):
    """Fingerprint of the window sampler's starting state (an int seed or a Generator)."""
    import hashlib

    state = json.dumps(as_rng(rng).bit_generator.state, sort_keys=True, default=str)
    return hashlib.sha1(state.encode()).hexdigest()[:16]


def _evaluate(model, X_eval, n_eval, n_starts):
    """D_stsp of free runs from ``n_starts`` data points spread over ``X_eval``.

    Returns an array of length ``n_starts``; ``inf`` where the free run diverged. One
    initial condition can land on a coexisting fixed point or cycle of a model whose
    other orbits are fine (or the reverse), so a candidate is judged by several.
    """
    out = np.empty(n_starts)
    for i, start in enumerate(_selection_starts(len(X_eval), n_starts)):
        try:
            X_gen = _metrics.generate_free_run(model, X_eval, n_eval, start=start)
        except DivergenceError:
            out[i] = np.inf
            continue
        out[i] = _metrics.state_space_divergence(X_eval, X_gen)
    return out


def _check_train_args(
    model,
    X,
    *,
    tau,
    alpha,
    alpha_decay,
    n_epochs,
    batches_per_epoch,
    batch_size,
    seq_len,
    lr,
    lr_decay,
    lr_decay_start,
    ema_decay,
    clip_norm,
    detach_forcing,
    window_sampling,
    warmup,
    lambda_max,
    tau_fraction,
    rng,
    eval_every,
    eval_data,
    eval_steps,
    eval_starts,
    progress,
    callback,
    checkpoint,
    checkpoint_every,
    resume,
):
    """Validate the arguments of :func:`train` before the first step (a bad argument must
    not waste a run). Returns ``(settings, config)``: the validated, normalised values as
    attributes of a namespace, and the run's record (what a checkpoint must match)."""
    if not isinstance(model, RNNModel):
        raise TypeError(f"model must be a refrnn model, got {type(model).__name__}")
    X = as_float_array("X", X, ndim=2)
    if X.shape[1] != model.N:
        raise ValueError(f"X must have shape (T, N={model.N}), got {X.shape}")
    n_epochs = as_positive_int("n_epochs", n_epochs)
    lr = as_real("lr", lr)
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}")
    batches_per_epoch = as_positive_int("batches_per_epoch", batches_per_epoch)
    batch_size = as_positive_int("batch_size", batch_size)
    seq_len = as_positive_int("seq_len", seq_len)
    check_allocation("batch_size", batch_size, "(batch_size, seq_len+1, M) batch states",
                     batch_size * (seq_len + 1) * model.M)  # fmt: skip
    if X.shape[0] < seq_len + 1:
        raise ValueError(f"X has {X.shape[0]} samples, fewer than seq_len + 1 = {seq_len + 1}")
    if clip_norm is not None and not (as_real("clip_norm", clip_norm) > 0):
        raise ValueError(f"clip_norm must be > 0 or None, got {clip_norm}")
    eval_every = 0 if not eval_every else as_positive_int("eval_every", eval_every)
    X_eval = X if eval_data is None else as_float_array("eval_data", eval_data, ndim=2)
    # validate everything an evaluation or a checkpoint will need before the first step,
    # so that a bad argument cannot waste a run
    if eval_data is not None and X_eval.shape[1] != model.N:
        raise ValueError(f"eval_data must have shape (T, N={model.N}), got {X_eval.shape}")
    if eval_every and (len(X_eval) < 2 or np.all(np.ptp(X_eval, axis=0) == 0)):
        raise ValueError(
            f"{'eval_data' if eval_data is not None else 'X'} must hold at least 2 samples "
            f"that are not all equal, to compare free runs with (shape {X_eval.shape})"
        )
    if checkpoint is not None and Path(checkpoint).is_dir():
        raise ValueError(f"checkpoint must be a file path, got the directory {checkpoint}")
    n_eval = len(X_eval) if eval_steps is None else as_positive_int("eval_steps", eval_steps)
    eval_starts = as_positive_int("eval_starts", eval_starts)
    if eval_starts > len(X_eval):
        raise ValueError(f"eval_starts must be <= len(eval_data)={len(X_eval)}, got {eval_starts}")
    checkpoint_every = as_positive_int("checkpoint_every", checkpoint_every)
    detach_forcing = as_bool("detach_forcing", detach_forcing)
    if window_sampling not in WINDOW_SAMPLINGS:
        raise ValueError(
            f"window_sampling must be one of {WINDOW_SAMPLINGS}, got {window_sampling!r}"
        )
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable or None, got {type(callback).__name__}")
    identity = model.readout == "identity"
    warmup = (100 if identity else 0) if warmup is None else warmup
    warmup = as_positive_int("warmup", warmup, minimum=0)
    if warmup and not identity:
        raise ValueError(
            f"warmup={warmup} applies to the identity readout only: the linear readout "
            f"infers all M states from x by B^+"
        )
    if X.shape[0] < seq_len + warmup + 1:
        raise ValueError(
            f"X has {X.shape[0]} samples, fewer than warmup + seq_len + 1 = {warmup + seq_len + 1}"
        )
    n_starts = X.shape[0] - (seq_len + warmup)
    if window_sampling == "without_replacement" and n_starts < batches_per_epoch * batch_size:
        raise ValueError(
            f"window_sampling='without_replacement' needs batches_per_epoch * batch_size = "
            f"{batches_per_epoch * batch_size} distinct window starts per epoch, but X "
            f"({X.shape[0]} samples, windows of {seq_len + warmup + 1}) offers {n_starts}"
        )
    if isinstance(lr_decay, bool) or not isinstance(lr_decay, numbers.Real):
        raise TypeError(f"lr_decay must be a real number, got {type(lr_decay).__name__}")
    if not 0.0 < float(lr_decay) <= 1.0:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    lr_decay_start = as_positive_int("lr_decay_start", lr_decay_start, minimum=0)
    if lr_decay_start and (float(lr_decay) == 1.0 or lr_decay_start >= n_epochs - 1):
        warnings.warn(
            f"lr_decay_start={lr_decay_start} has no effect "
            + (
                "with lr_decay=1.0 (no decay): pass lr_decay < 1 as well"
                if float(lr_decay) == 1.0
                else f"in a run of n_epochs={n_epochs} (epochs 0..{n_epochs - 1}): no epoch "
                f"after it decays"
            ),
            UserWarning,
            stacklevel=3,
        )
    if ema_decay is not None:
        ema_decay = as_real("ema_decay", ema_decay)
        if not 0.0 < ema_decay < 1.0:  # also rejects NaN
            raise ValueError(f"ema_decay must be in (0, 1) or None, got {ema_decay}")
    tau_value, tau_source = resolve_tau(tau, X, lambda_max=lambda_max, tau_fraction=tau_fraction)
    auto_alpha = isinstance(alpha, str) and alpha == "auto"
    alpha_value = 1.0 if auto_alpha else as_alpha(alpha)
    if alpha_decay is not None:
        if not auto_alpha:
            raise ValueError(f"alpha_decay applies to alpha='auto' only, got alpha={alpha!r}")
        alpha_decay = as_real("alpha_decay", alpha_decay)
        if not 0.0 <= alpha_decay < 1.0:  # also rejects NaN
            raise ValueError(f"alpha_decay must be in [0, 1), got {alpha_decay}")
    gamma = (
        gtf_decay(n_epochs * batches_per_epoch / GTF_EVERY) if alpha_decay is None else alpha_decay
    )
    if tau_value is not None and alpha is None and tau_value >= seq_len:
        warnings.warn(
            f"tau={tau_value} >= seq_len={seq_len} ({tau_source}): no step inside a window "
            f"is forced, only its initial state, so this is plain BPTT on windows of "
            f"{seq_len} steps. Choose tau < seq_len, or a longer seq_len",
            UserWarning,
            stacklevel=3,
        )
    # the mechanism is the uncut products through unobserved states: none when M == N
    unobserved = identity and model.M > model.N
    if unobserved and alpha is None and (tau_value is None or tau_value > IDENTITY_MAX_TAU):
        warnings.warn(
            f"identity readout with tau={tau_value}: sparse teacher forcing of only the "
            f"observed states was measured not to learn Lorenz-63 for tau >= 20 (free runs "
            f"end on a fixed point). Use tau <= {IDENTITY_MAX_TAU} (with the default warm-up) "
            f"or the linear readout; see docs/results/identity_readout.md",
            UserWarning,
            stacklevel=3,
        )

    config = {
        "model": type(model).__name__,
        "M": model.M,
        "N": model.N,
        "readout": model.readout,
        "tau": tau_value,
        "tau_source": tau_source,
        "alpha": "auto" if auto_alpha else alpha_value,
        "alpha_decay": alpha_decay,
        "alpha_gamma": gamma if auto_alpha else None,
        "n_epochs": n_epochs,
        "batches_per_epoch": batches_per_epoch,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "lr": float(lr),
        "lr_decay": float(lr_decay),
        "lr_decay_start": lr_decay_start,
        "ema_decay": ema_decay,
        "clip_norm": None if clip_norm is None else float(clip_norm),
        "detach_forcing": detach_forcing,
        "window_sampling": window_sampling,
        "warmup": warmup,
        "eval_every": eval_every,
        "eval_starts": eval_starts,
        "eval_on": "training series" if eval_data is None else "eval_data",
        "n_train": int(X.shape[0]),
    }
    if checkpoint is not None:
        # what the run started from: resuming with other data, another initial model or
        # another seed would silently continue a different experiment. Only a run with a
        # checkpoint can be resumed, and only its record is compared: hashing the series
        # (~0.2 ms per 20 000 x 3) is not spent on the others
        config["data_fingerprint"] = data_fp = _fingerprint(X)
        # X_eval is X itself unless eval_data was given: hash it once
        config["eval_data_fingerprint"] = data_fp if X_eval is X else _fingerprint(X_eval)
        config["initial_model_fingerprint"] = _fingerprint(
            *(model.params[k] for k in sorted(model.params))
        )
        config["rng_fingerprint"] = None if rng is None else _fingerprint_rng(rng)
    settings = SimpleNamespace(
        X=X,
        X_eval=X_eval,
        n_eval=n_eval,
        eval_starts=eval_starts,
        n_epochs=n_epochs,
        lr=lr,
        lr_decay=lr_decay,
        lr_decay_start=lr_decay_start,
        ema_decay=ema_decay,
        batches_per_epoch=batches_per_epoch,
        batch_size=batch_size,
        seq_len=seq_len,
        warmup=warmup,
        tau_value=tau_value,
        tau_source=tau_source,
        auto_alpha=auto_alpha,
        alpha_value=alpha_value,
        gamma=gamma,
        detach_forcing=detach_forcing,
        window_sampling=window_sampling,
        clip_norm=clip_norm,
        eval_every=eval_every,
        checkpoint=checkpoint,
        checkpoint_every=checkpoint_every,
        callback=callback,
        progress=progress,
    )
    return settings, config


def train(
    model,
    X,
    *,
    tau,
    alpha=None,
    alpha_decay=None,
    n_epochs=1000,
    batches_per_epoch=10,
    batch_size=32,
    seq_len=100,
    lr=1e-3,
    lr_decay=1.0,
    lr_decay_start=0,
    ema_decay=None,
    clip_norm=None,
    detach_forcing=False,
    window_sampling="with_replacement",
    warmup=None,
    lambda_max=None,
    tau_fraction=TAU_FRACTION,
    rng=None,
    eval_every=50,
    eval_data=None,
    eval_steps=None,
    eval_starts=3,
    progress=False,
    callback=None,
    checkpoint=None,
    checkpoint_every=50,
    resume=False,
):
    r"""Train ``model`` on the series ``X`` with sparsely forced BPTT.

    Parameters
    ----------
    model : RNNModel (PLRNN, VanillaRNN or ShallowPLRNN)
        Initial model (not modified; models are immutable).
    X : ndarray, shape (T, N)
        Training series (standardised, N = model.N).
    tau : int, None or "auto"
        Forcing interval in steps; None = plain BPTT; "auto" = round(0.3 ln 2 / lambda_max),
        see :func:`resolve_tau`. Fixed for the whole run.
    alpha : None, float in [0, 1] or "auto"
        Generalized teacher forcing (see :func:`refrnn.loss_and_grad`): None (default)
        is sparse teacher forcing; a number is a fixed alpha at the forced steps (every
        step if ``tau`` is None); ``"auto"`` adapts it as in Hess et al. (2023, Sect. 3.3)
        and the authors' released code: starting from 1, every ``GTF_EVERY`` = 5 batches
        :func:`gtf_alpha` estimates the alpha that keeps the forced Jacobian products
        bounded, from the first ``GTF_WINDOWS`` = 4 windows of the batch (the released code
        uses the whole batch; 4 windows keep the spectral norms, an SVD per state, cheaper
        than the gradient itself); alpha jumps up to a higher estimate and otherwise decays
        towards it, :math:`\alpha \leftarrow \gamma\alpha + (1-\gamma)\hat\alpha`.
        The history records alpha per epoch (NaN for sparse teacher forcing).
    alpha_decay : None or float in [0, 1)
        The :math:`\gamma` of adaptive GTF (``alpha="auto"`` only). None (default) scales it
        to the run, :func:`gtf_decay` (0.999, the released code's value, for its 5000 x 50
        batches; lower for shorter runs, so that alpha can come down within the budget).
    n_epochs : int
        Number of epochs (default 1000; the paper used 3000).
    batches_per_epoch : int
        Gradient steps per epoch (default 10, as in the paper).
    batch_size : int
        Windows per batch, S (default 32).
    seq_len : int
        Window length T in steps; each window holds T+1 observations (default 100).
    lr : float
        Adam learning rate (default 1e-3).
    lr_decay : float
        Per-epoch factor of an exponential learning-rate decay, in (0, 1]: epoch e (0-based)
        uses ``lr * lr_decay**max(0, e - lr_decay_start)`` (``lr * lr_decay**e`` with the
        default start 0). Default 1.0 (constant, as in the paper). E.g.
        ``0.1 ** (1 / n_epochs)`` ends at a tenth of ``lr``; see
        ``docs/results/stf_stability.md`` for what it does to late relapses.
    lr_decay_start : int
        The epoch from which the decay's exponent counts (default 0), i.e. the last epoch
        at the full ``lr``: epoch e uses ``lr * lr_decay**max(0, e - lr_decay_start)``.
        A start with ``lr_decay`` 1, or at or beyond the last epoch, changes nothing and
        warns. E.g. ``lr_decay_start=2000, lr_decay=0.01 ** (1 / 1000)`` over 3000 epochs
        keeps the paper's rate for two thirds of the run and ends at 1 % of it.
    ema_decay : float in (0, 1), optional
        Keep an exponential moving average of the parameters (iterate averaging, Polyak &
        Juditsky 1992; here with exponential weights) with the factor
        :math:`\beta` = ``ema_decay`` per batch:
        :math:`\bar\theta_k = \beta\bar\theta_{k-1} + (1-\beta)\theta_k` after Adam
        step k, from :math:`\bar\theta_0 = 0`, bias-corrected to
        :math:`\bar\theta_k/(1-\beta^k)` (as Adam's moments). Its memory is about
        :math:`1/(1-\beta)` batches, e.g. 0.999 averages over the last ~100 epochs of 10
        batches. The optimiser never sees the average. When set, the evaluations
        (``history["d_stsp"]``), ``best_model`` and the selection score the *averaged*
        model, and :attr:`TrainResult.averaged_model` holds it after the last batch;
        ``TrainResult.model`` stays the last iterate. Default None (no average, as the
        paper). See ``docs/results/stf_stability.md`` for what it does to relapses.
    clip_norm : float, optional
        Clip the global gradient norm to this value (the paper's BPTT baseline uses 1).
    detach_forcing : bool
        Linear readout: False (default, as the authors' released code) differentiates
        through the forcing states :math:`B^+ x`, True treats them as constant data; see
        :func:`refrnn.loss_and_grad`. No effect with the identity readout.
    window_sampling : {"with_replacement", "without_replacement"}
        How window start points are drawn. ``"with_replacement"`` (default): every batch
        draws ``batch_size`` starts uniformly and independently, so a window can recur
        within an epoch. ``"without_replacement"``: each epoch draws its
        ``batches_per_epoch * batch_size`` starts as distinct points (a random
        permutation of all possible starts, as the authors' released code does, Mikhaeil
        et al. 2022); the series must then offer at least that many starts.
    warmup : int, optional
        Identity readout only: each window is preceded by this many observations over
        which the model runs (forced every ``tau`` steps, no gradient) to infer the
        unobserved part of :math:`z_0`, see :func:`refrnn.bptt.warm_start`. Default: 100
        for the identity readout, 0 (not applicable) for the linear one.
    lambda_max : float, optional
        Largest Lyapunov exponent per step, for ``tau="auto"``.
    tau_fraction : float in (0, 1]
        ``tau="auto"`` forces every ``round(tau_fraction * ln 2 / lambda_max)`` steps; see
        :func:`resolve_tau` and :data:`TAU_FRACTION` (0.3) for how the default was chosen.
    rng : Generator or int, optional
        Draws the windows. The run is reproducible given the seed.
    eval_every : int or None
        Compute D_stsp of a free run every this many epochs (and at the last epoch);
        None or 0 disables evaluation.
    eval_data : ndarray, shape (T_eval, N), optional
        Reference series for D_stsp (default: ``X``).
    eval_steps : int, optional
        Length of each free run (default: ``len(eval_data)``).
    eval_starts : int
        Free runs per evaluation, started from this many points spread evenly over
        ``eval_data`` (default 3). The history records their median D_stsp (the
        selection score) and their range; see :attr:`TrainResult.selection`.
    progress : bool
        Show progress with loss and gradient norm on stderr: a tqdm bar on a terminal,
        a plain line every 10 % of the epochs otherwise (log files get no
        carriage-return updates).
    callback : callable, optional
        Called after every epoch as ``callback(record)``, with ``record`` the epoch's
        entries of :attr:`TrainResult.history` (a dict of floats). Not part of the
        run's settings (a resumed run may use another).
    checkpoint : str or Path, optional
        Write a checkpoint (model, Adam state, rng state, history, config, the best model
        and, with ``ema_decay``, the parameter average) here every
        ``checkpoint_every`` epochs and at the end, atomically.
    checkpoint_every : int
    resume : bool
        If ``checkpoint`` exists, continue from it. Resuming gives exactly the parameters of
        an uninterrupted run with the same settings. The checkpoint records the settings
        and fingerprints of the data, the evaluation series, the initial model and the
        seed; any difference (other than ``n_epochs``) is a ``ValueError``. ``False``
        starts over and overwrites the checkpoint.

    Returns
    -------
    TrainResult

    Raises
    ------
    TrainingDiverged
        If a loss or gradient becomes non-finite, or (with ``ema_decay``) the averaged
        parameters are not a valid model; the last checkpoint is left intact.

    Warns
    -----
    UserWarning
        For the identity readout with unobserved states (M > N) and ``tau`` > 10 or
        None: measured not to learn Lorenz-63 (the free runs end on a fixed point;
        ``docs/results/identity_readout.md``). With M = N forcing sets every state, as the
        linear readout does, and nothing is warned.

    Notes
    -----
    **Choosing the readout.** With the linear readout, forcing replaces all M latent
    states by :math:`B^+ x_t` and cuts every product of Jacobians at the forced steps.
    With the identity readout only the N observed states are replaced: the products
    restricted to the M - N unobserved states are not cut, and once the model becomes
    chaotic its gradients grow with the window length as in plain BPTT. On Lorenz-63
    (M = 30, N = 3) the identity readout learned nothing at tau = 20 or 30 (test
    D_stsp 3.4-3.9, a fixed point), and learned partly at tau = 10 with the 100-step
    warm-up (test D_stsp 0.99 [0.51, 1.32] over 3 seeds after 3000 epochs), against
    about 0.3 for the linear readout at tau = 30. Prefer the linear readout for sparse
    teacher forcing; see ``docs/results/identity_readout.md``.
    """
    s, config = _check_train_args(**locals())
    model, opt, rng, history, start_epoch, best, average = _start_or_resume(
        model, rng, s.lr, config, s.checkpoint if resume else None
    )

    alpha_value = s.alpha_value
    if s.auto_alpha and history["alpha"]:
        alpha_value = float(history["alpha"][-1])  # resume where the run left alpha
    gamma = config["alpha_gamma"]
    t_offset = history["wall_time"][-1] if history["wall_time"] else 0.0
    t0 = time.perf_counter()
    # a tqdm bar on a terminal, a line every 10 % in a log file (no carriage returns)
    bar = ProgressBar(s.n_epochs, desc="train", initial=start_epoch, enabled=s.progress,
                      unit="epochs")  # fmt: skip
    step = _batch_step  # the whole batch step in one kernel call where there is one:
    fused = None
    if model.kind in _kernels.BATCHED_KINDS:
        fused = _FusedBatchStep(model, opt, s.batch_size, s.seq_len, s.detach_forcing,
                                s.clip_norm, average, s.ema_decay)  # fmt: skip
        step = fused
    # ... and a whole epoch in one call where nothing between the batches needs Python (a
    # warm-up runs the model on each batch's windows), or with adaptive alpha the batches
    # between two of its updates
    whole_epochs = fused is not None and not s.warmup
    n_steps = s.seq_len + s.warmup
    for epoch in range(start_epoch, s.n_epochs):
        # a function of the epoch alone, so that a resumed run continues the schedule
        opt.lr = float(s.lr) * float(s.lr_decay) ** max(0, epoch - s.lr_decay_start)
        losses, norms = [], []
        epoch_starts = _epoch_starts(s, rng)
        # one BLAS thread for the whole epoch's batches: entering the limit per batch
        # costs ~11 us (threadpoolctl), nested entries below only count up. With the
        # fused step only from M = GEMM_MIN_DIM (_batched.blas_limit): below it its
        # kernels call no BLAS, and the warm-up and GTF's alpha estimate only products
        # too small for BLAS to split into threads
        with _batched.blas_limit(model.M) if fused is not None else one_blas_thread():
            try:
                if whole_epochs:
                    # the same draws, in the same order, as batch by batch
                    starts = _epoch_window_starts(s.X, s.batches_per_epoch, s.batch_size,
                                                  n_steps, rng, epoch_starts)  # fmt: skip
                    windows = _batched.gather_windows(s.X, starts.ravel(), n_steps)
                    windows = windows.reshape(s.batches_per_epoch, s.batch_size, n_steps + 1, -1)
                    losses, norms = np.empty(s.batches_per_epoch), np.empty(s.batches_per_epoch)
                    for lo, hi in _segments(s, epoch):
                        if s.auto_alpha and (epoch * s.batches_per_epoch + lo) % GTF_EVERY == 0:
                            # GTF's update, before the step of batch lo
                            estimate = gtf_alpha(model, windows[lo, :GTF_WINDOWS])
                            alpha_value = _gtf_update(alpha_value, estimate, gamma)
                        model, losses[lo:hi], norms[lo:hi] = fused.run(
                            model, opt, windows[lo:hi], None, s.tau_value, alpha_value
                        )
                for b in range(0 if whole_epochs else s.batches_per_epoch):
                    windows = _draw_windows(s.X, s.batch_size, n_steps, rng, epoch_starts, b)
                    forcing = None
                    if s.warmup:
                        windows, forcing = warm_start(model, windows, s.warmup, s.tau_value)
                    if s.auto_alpha and (epoch * s.batches_per_epoch + b) % GTF_EVERY == 0:
                        estimate = gtf_alpha(model, windows[:GTF_WINDOWS])
                        alpha_value = _gtf_update(alpha_value, estimate, gamma)
                    model, loss, norm = step(
                        model, opt, windows, forcing, s.tau_value, alpha_value, s.detach_forcing,
                        s.clip_norm,
                    )  # fmt: skip
                    if average is not None and fused is None:  # (the fused step keeps it)
                        _update_average(average, model, s.ema_decay)
                    losses.append(loss)
                    norms.append(norm)
            except DivergenceError as exc:
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch} (tau={s.tau_value}): {exc}. "
                    + (
                        f"The last good checkpoint ({s.checkpoint}) is intact."
                        if s.checkpoint
                        else ""
                    )
                ) from exc
        last = epoch == s.n_epochs - 1
        if s.eval_every and ((epoch + 1) % s.eval_every == 0 or last):
            scored = model  # with ema_decay, the average is what is scored and selected
            if average is not None:
                scored = _averaged_model(model, average, s.ema_decay, opt.k, epoch)
            ds = _evaluate(scored, s.X_eval, s.n_eval, s.eval_starts)
            # the median run is the score: one unlucky start neither makes nor breaks it
            d, d_lo, d_hi = float(np.median(ds)), float(ds.min()), float(ds.max())
        else:
            d = d_lo = d_hi = float("nan")
        if np.isfinite(d) and (best[0] is None or d < np.nanmin(history["d_stsp"])):
            best = (scored, epoch)
        for k, v in zip(
            _HISTORY_KEYS,
            (
                epoch,
                np.mean(losses),
                np.mean(norms),
                np.max(norms),
                d,
                d_lo,
                d_hi,
                t_offset + time.perf_counter() - t0,
                math.nan if alpha_value is None else alpha_value,
            ),
            strict=True,
        ):
            history[k].append(float(v))
        bar.set_postfix(loss=f"{np.mean(losses):.4g}", gnorm=f"{np.mean(norms):.3g}")
        bar.update()
        if s.callback is not None:
            s.callback({k: v[-1] for k, v in history.items()})
        if s.checkpoint is not None and ((epoch + 1) % s.checkpoint_every == 0 or last):
            _save_checkpoint(
                s.checkpoint, model, opt, rng, history, config, epoch + 1, best, average
            )
    bar.close()
    hist = {k: np.asarray(v) for k, v in history.items()}
    averaged = None
    if average is not None:
        averaged = _averaged_model(model, average, s.ema_decay, opt.k, s.n_epochs - 1)
    return TrainResult(model, hist, s.tau_value, s.tau_source, config, *best, averaged)
