"""Derivatives of an ODE's solution three ways: through the solver, forward, and by the adjoint.

Chapter 6 compares them on dz/dt = f(z, p), solved by fixed-step RK4 from z(0) = z0 to z(t1):

- backprop through the solver: ``rk4`` is plain numpy, so the tape records every step and runs
  them backwards (exact for the discrete solution; memory grows with the number of steps);
- forward sensitivities: S = dz/d(z0, p) obeys dS/dt = f_z S + (0, f_p), integrated by the same
  RK4 alongside z (``forward_sensitivities``: memory constant, work grows with the number of
  inputs);
- the continuous adjoint (Pontryagin; Chen et al. 2018 for neural ODEs): a = dL/dz(t) obeys
  da/dt = -f_z^T a backwards from a(t1) = dL/dz(t1), and dL/dp = int_0^t1 f_p^T a dt
  (``adjoint_gradient``: memory constant, work independent of the number of inputs). It needs
  z(t) on the way back, and re-solving the ODE backwards from z(t1) can lose it: a mode that
  decays forwards grows backwards, with every error in it. Checkpoints (states kept every k
  steps on the way forward, and z reset to them on the way back) fix that for memory n / k.

``f(z, p)`` takes z of shape (n,) and p of shape (P,) and returns (n,), written in numpy, so the
tape, ``Dual`` numbers and ``vjp`` all run through it.
"""
import numpy as np

from .dual import jacfwd
from .reverse import vjp


def _check(z0, p, t1, n_steps):
    """Return z0 and p as float arrays; raise ValueError with the fix for bad input."""
    z0, p = np.asarray(z0, float), np.asarray(p, float)
    if z0.ndim != 1 or p.ndim != 1:
        raise ValueError(f"z0 and p must be 1-D arrays (states, parameters); got shapes "
                         f"{z0.shape} and {p.shape}")
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
    if not np.isfinite(t1) or t1 <= 0:
        raise ValueError(f"t1 must be a finite time > 0 (the ODE runs from 0 to t1); got {t1!r}")
    return z0, p


def rk4_step(f, z, p, h):
    """Return z after one classical Runge-Kutta step of length h (negative: backwards in time)."""
    k1 = f(z, p)
    k2 = f(z + 0.5 * h * k1, p)
    k3 = f(z + 0.5 * h * k2, p)
    k4 = f(z + h * k3, p)
    return z + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def rk4(f, z0, p, t1, n_steps):
    """Return the states z_0 .. z_n of dz/dt = f(z, p) at n equal RK4 steps over [0, t1].

    Args:
        f: the rate ``f(z, p)`` -> (n,); z0: (n,) initial state; p: (P,) parameters.
        t1: the final time (> 0); n_steps: the number of steps.
    Returns:
        The states, shape (n_steps + 1, n). Differentiable: the tape records every step.
        Chapter 6.
    """
    if not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps must be an integer >= 1; got {n_steps!r}")
    h, zs = t1 / n_steps, [z0]
    for _ in range(n_steps):
        zs.append(rk4_step(f, zs[-1], p, h))
    return np.stack(zs)


def forward_sensitivities(f, z0, p, t1, n_steps):
    """Return z(t1) and its Jacobian with respect to (z0, p), integrated forwards alongside z.

    The sensitivity S = dz/d(z0, p), shape (n, n + P), starts at (I, 0) and obeys
    dS/dt = f_z S + (0, f_p); each RK4 stage takes f's Jacobian by ``jacfwd`` (n + P forward
    directions), so the work grows with the number of inputs and the memory does not grow with
    the steps.
    Args: as in ``rk4``. Returns: (z(t1) of shape (n,), the Jacobian of shape (n, n + P)).
    Chapter 6.
    """
    z0, p = _check(z0, p, t1, n_steps)
    n, h = z0.size, t1 / n_steps
    jac = jacfwd(lambda w: f(w[:n], w[n:]))

    def rate(zs, _):
        z, S = zs[:n], zs[n:].reshape(n, -1)
        J = jac(np.concatenate([z, p]))
        dS = J[:, :n] @ S + np.hstack([np.zeros((n, n)), J[:, n:]])
        return np.concatenate([f(z, p), dS.ravel()])

    zs = np.concatenate([z0, np.hstack([np.eye(n), np.zeros((n, p.size))]).ravel()])
    for _ in range(n_steps):
        zs = rk4_step(rate, zs, None, h)
    return zs[:n], zs[n:].reshape(n, n + p.size)


def adjoint_gradient(f, z0, p, t1, n_steps, a1, checkpoint_every=None):
    """Return dL/dz0 and dL/dp by the continuous adjoint, solved backwards from t1 to 0.

    The augmented state (z, a, g) runs backwards by RK4 with the same n steps:
    dz/dt = f(z, p), da/dt = -f_z^T a, dg/dt = -f_p^T a, from (z(t1), a1, 0); a^T f_z and
    a^T f_p come from one ``vjp`` of f per stage. Without checkpoints z(t) is re-solved backwards
    from z(t1) alone; with ``checkpoint_every = k``, the forward pass keeps every k-th state and
    the backward pass resets z to it there.
    Args:
        f, z0, p, t1, n_steps: as in ``rk4``.
        a1: dL/dz(t1), shape (n,): the loss's gradient at the final state.
        checkpoint_every: None (keep only z(t1)) or k >= 1 (keep n_steps / k states).
    Returns:
        (dL/dz0 of shape (n,), dL/dp of shape (P,), z(t1) of shape (n,)). Chapter 6.
    """
    z0, p = _check(z0, p, t1, n_steps)
    a1 = np.asarray(a1, float)
    if a1.shape != z0.shape:
        raise ValueError(f"a1 = dL/dz(t1) must have the shape of z0, {z0.shape}; got {a1.shape}")
    if checkpoint_every is not None and (not isinstance(checkpoint_every, (int, np.integer))
                                         or checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be None or an integer >= 1; got "
                         f"{checkpoint_every!r}")
    n, h = z0.size, t1 / n_steps
    z, saved = z0, {0: z0}
    for i in range(1, n_steps + 1):
        z = rk4_step(f, z, p, h)
        if checkpoint_every is not None and i % checkpoint_every == 0:
            saved[i] = z
    z_final = z

    def rate(w, _):
        z, a = w[:n], w[n:2 * n]
        fz, pullback = vjp(f, z, p)
        a_fz, a_fp = pullback(a)
        return np.concatenate([fz, -a_fz, -a_fp])

    w = np.concatenate([z_final, a1, np.zeros(p.size)])
    for i in range(n_steps, 0, -1):
        if checkpoint_every is not None and i in saved:
            w = np.concatenate([saved[i], w[n:]])
        w = rk4_step(rate, w, None, -h)
    return w[n:2 * n], w[2 * n:], z_final
