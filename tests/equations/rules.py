"""Checks shared by the tests of every module in refrnn.equations.

Each equations module defines a map twice: NumPy definitions (``step``, ``step_jvp``,
``step_vjp``, ``jacobian``) and Numba kernels (``*_kernel``). These helpers prove

1. each kernel equal to its definition (1e-12; the kernels reorder sums of at most M <= 12
   terms of size O(1), so they differ by a few ulps, ~1e-15), and
2. the definitions consistent with each other and with the step itself: the tangent
   against central differences, the adjoint against the tangent (dot-product test), the
   Jacobian against the tangent with a zero parameter direction.
"""

import numpy as np

KERNEL_RTOL = KERNEL_ATOL = 1e-12


def _pack(eq, params):
    return np.concatenate([np.ravel(params[k]) for k in eq.PARAM_NAMES])


def kernels_equal_definitions(eq, params, dparams, z, dz, g):
    """Every ``*_kernel`` of ``eq`` against its definition at one point."""
    M = z.shape[0]
    theta, dtheta = _pack(eq, params), _pack(eq, dparams)
    theta_k, dtheta_k = eq.kernel_layout(theta, M), eq.kernel_layout(dtheta, M)
    tol = dict(rtol=KERNEL_RTOL, atol=KERNEL_ATOL)

    z_out = np.empty(M)
    eq.step_kernel(theta_k, M, z, z_out)
    np.testing.assert_allclose(z_out, eq.step(params, z), **tol)

    dz_out = np.empty(M)
    eq.step_jvp_kernel(theta_k, M, z, z_out, dtheta_k, dz, dz_out)
    np.testing.assert_allclose(dz_out, eq.step_jvp(params, dparams, z, dz), **tol)

    g_theta, g_z = np.zeros_like(theta_k), np.empty(M)
    eq.step_vjp_kernel(theta_k, M, z, z_out, g, g_theta, g_z)
    g_z_def, grads = eq.step_vjp(params, z[None], z_out[None], g[None])
    np.testing.assert_allclose(g_z, g_z_def[0], **tol)
    P = theta.shape[0]
    np.testing.assert_allclose(g_theta[:P], _pack(eq, grads), **tol)
    # the copies appended by kernel_layout are not parameters: no gradient reaches them
    assert np.all(g_theta[P:] == 0.0)

    J = np.empty((M, M))
    eq.jacobian_kernel(theta_k, M, z, J)
    np.testing.assert_allclose(J, eq.jacobian(params, z), **tol)


def definitions_are_consistent(eq, params, dparams, z, dz, g, *, h, fd_atol):
    """Tangent vs central differences, adjoint vs tangent, Jacobian vs tangent.

    ``h`` and ``fd_atol`` come from the caller, who knows the map's smoothness.
    """
    zeros = {k: np.zeros_like(v) for k, v in params.items()}
    shifted = lambda s: {k: params[k] + s * dparams[k] for k in params}  # noqa: E731
    fd = (eq.step(shifted(h), z + h * dz) - eq.step(shifted(-h), z - h * dz)) / (2 * h)
    jvp = eq.step_jvp(params, dparams, z, dz)
    np.testing.assert_allclose(jvp, fd, rtol=0, atol=fd_atol)
    # <g, J_theta dtheta + J_z dz> = <J_z^T g, dz> + <J_theta^T g, dtheta>: both sides are
    # sums of the same O(M^2) products, so they agree to round-off.
    g_z, grads = eq.step_vjp(params, z[None], eq.step(params, z)[None], g[None])
    lhs = g @ jvp
    rhs = g_z[0] @ dz + sum(np.sum(grads[k] * dparams[k]) for k in params)
    assert abs(lhs - rhs) <= 1e-12 * (1.0 + abs(lhs))
    np.testing.assert_allclose(
        eq.jacobian(params, z) @ dz, eq.step_jvp(params, zeros, z, dz), rtol=1e-12, atol=1e-13
    )


def batch_kernels_equal_definitions(eq, params, Z, G):
    """The batch-major kernels (``*_batch_kernel``: states of shape (n, M, 16), the 16
    windows of a chunk the inner dimension) against the definitions, over all n steps and
    windows at once.

    ``Z`` holds the inputs of n steps, ``G`` the upstream gradients of their outputs. The
    step's and the adjoint's columns are compared one by one (sums of M terms reordered:
    1e-12 as above); the parameter gradient sums n*w adjoints (BLAS and reordered sums),
    so it is compared relative to its largest entry.
    """
    n, M, w = Z.shape
    theta = _pack(eq, params)
    theta_k = eq.kernel_layout(theta, M)
    tol = dict(rtol=KERNEL_RTOL, atol=KERNEL_ATOL)
    Zout, H, Gin = np.empty_like(Z), np.empty_like(Z), np.empty_like(Z)
    work = np.empty((2, M, w))
    Gk = G.copy()  # the adjoint kernels may overwrite G with what the parameter gradient needs
    for t in range(n):
        eq.step_batch_kernel(theta_k, M, Z, t, Zout, t, H, work)
        np.testing.assert_allclose(Zout[t].T, eq.step(params, Z[t].T), **tol)
        eq.step_vjp_batch_kernel(theta_k, M, Z, t, Zout, t, H, Gk, t, Gin, t, work)
        g_z, _ = eq.step_vjp(params, Z[t].T, Zout[t].T, G[t].T)
        np.testing.assert_allclose(Gin[t].T, g_z, **tol)
    g_theta = np.zeros_like(theta_k)
    eq.param_grads_batch_kernel(theta_k, M, Z, H, Gk, g_theta)
    X, Xo, U = (np.ascontiguousarray(A.transpose(0, 2, 1).reshape(n * w, M)) for A in (Z, Zout, G))
    want = _pack(eq, eq.step_vjp(params, X, Xo, U)[1])
    P = theta.shape[0]
    np.testing.assert_allclose(g_theta[:P], want, rtol=0, atol=1e-12 * np.max(np.abs(want)))
    assert np.all(g_theta[P:] == 0.0)
