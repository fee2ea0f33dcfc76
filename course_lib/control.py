"""Optimal control: rollouts, LQR by the Riccati recursion, shooting, the costate, iLQR, a pendulum.

Chapter 6 builds on this module. A discrete-time system moves by x_{t+1} = step(x_t, u_t) from a
state x_0 under controls u_0 .. u_{T-1}; a cost adds up what the states and controls cost. The
module controls it three ways:

- dynamic programming: for linear dynamics and quadratic costs (LQR), the Bellman equation is
  solved exactly by the Riccati recursion, backwards in time (``lqr``, ``lqr_gain``);
- shooting: the cost as a function of the controls alone, J(u) = cost(rollout(step, x0, u), u),
  differentiated through the rollout and minimised by ``course_lib.minimize`` (``shooting``);
- iLQR: linearise the dynamics and quadraticise the cost around the current trajectory, solve
  that LQR problem, step along it with a line search, repeat (``ilqr``).

The costate (adjoint) recursion lambda_t = Q x_t + A^T lambda_{t+1} of the linear-quadratic case
(``costate``) is what reverse mode computes when it differentiates the rollout.

Dynamics and costs are plain numpy, so floats, ``Dual`` numbers and the reverse-mode tape all run
through them; HIPS autograd needs its own numpy: pass ``xp=autograd.numpy``. Costs use the 1/2
convention: J = 1/2 sum_t (x_t^T Q x_t + u_t^T R u_t) + 1/2 x_T^T Q_f x_T.
"""
import numpy as np

from .dual import jacfwd
from .optim import _result_type, minimize
from .reverse import grad, hessian

# Gymnasium's Pendulum-v1: gravity (m/s^2), mass (kg), length (m), time step (s), limits.
PENDULUM = {"g": 10.0, "m": 1.0, "l": 1.0, "dt": 0.05, "max_speed": 8.0, "max_torque": 2.0}


# ---- rollouts ----

def rollout(step, x0, us, xp=np):
    """Return the states x_0 .. x_T visited from ``x0`` under the controls ``us``.

    Args:
        step: the dynamics, ``step(x, u)`` -> next state of shape (n,), written in numpy.
        x0: the initial state, shape (n,).
        us: the controls u_0 .. u_{T-1}, shape (T, m).
        xp: the numpy module (``autograd.numpy`` for HIPS autograd).
    Returns:
        The states, shape (T + 1, n). Chapter 6.
    """
    if np.ndim(us) != 2:
        raise ValueError(f"us must have shape (T, m), one row of controls per step; got shape "
                         f"{np.shape(us)} (for one control, reshape to (T, 1))")
    xs = [x0]
    for t in range(np.shape(us)[0]):
        xs.append(step(xs[-1], us[t]))
    return xp.stack(xs)


def linear_step(A, B):
    """Return the dynamics x, u -> A x + B u as a function, after checking the shapes agree.

    Args:
        A: (n, n) state matrix; B: (n, m) input matrix.
    Returns:
        ``step(x, u)``, usable by ``rollout``, ``shooting`` and ``ilqr``. Chapter 6.
    """
    A, B = _check_system(A, B)
    return lambda x, u: A @ x + B @ u


def double_integrator(dt=0.1):
    """Return (A, B) of a unit mass pushed by a force: state (position m, velocity m/s), exactly.

    Args:
        dt: the time step in s (the force is held constant over each step).
    Returns:
        A (2, 2) and B (2, 1). Chapter 6.
    """
    return np.array([[1.0, dt], [0.0, 1.0]]), np.array([[0.5 * dt * dt], [dt]])


def quadratic_cost(Q, R, Qf=None, xp=np):
    """Return the function (xs, us) -> 1/2 sum x_t^T Q x_t + 1/2 sum u_t^T R u_t + 1/2 x_T^T Qf x_T.

    Args:
        Q: (n, n) state weight; R: (m, m) control weight; Qf: (n, n) final weight (default Q).
        xp: the numpy module (``autograd.numpy`` for HIPS autograd).
    Returns:
        ``cost(xs, us)`` with xs of shape (T + 1, n) and us of shape (T, m). Chapter 6.
    """
    Q, R = np.asarray(Q, float), np.asarray(R, float)
    Qf = Q if Qf is None else np.asarray(Qf, float)

    def cost(xs, us):
        run = xp.sum((xs[:-1] @ Q) * xs[:-1]) + xp.sum((us @ R) * us)
        return 0.5 * (run + xp.sum((xs[-1] @ Qf) * xs[-1]))
    return cost


# ---- dynamic programming: the Riccati recursion ----

def _check_system(A, B, Q=None, R=None, Qf=None):
    """Return the matrices as float arrays; raise ValueError with the fix if shapes disagree."""
    A, B = np.asarray(A, float), np.asarray(B, float)
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square (n, n) matrix; got shape {A.shape}")
    n = A.shape[0]
    if B.ndim != 2 or B.shape[0] != n:
        raise ValueError(f"B must have shape (n, m) = ({n}, m) to match A; got shape {B.shape} "
                         "(for one control, B is a column: B.reshape(-1, 1))")
    m = B.shape[1]
    out = [A, B]
    for name, M, size in (("Q", Q, n), ("R", R, m), ("Qf", Qf, n)):
        if M is None:
            continue
        M = np.asarray(M, float)
        if M.shape != (size, size):
            raise ValueError(f"{name} must have shape ({size}, {size}) to match A {A.shape} and "
                             f"B {B.shape}; got shape {M.shape}")
        if not np.allclose(M, M.T):
            raise ValueError(f"{name} must be symmetric; use (M + M.T) / 2")
        smallest = np.linalg.eigvalsh(M).min()
        if name == "R" and smallest <= 0:
            raise ValueError(f"R must be positive definite (every control costs something); its "
                             f"smallest eigenvalue is {smallest:.3g}")
        if name != "R" and smallest < -1e-12 * max(1.0, np.abs(M).max()):
            raise ValueError(f"{name} must be positive semidefinite; its smallest eigenvalue is "
                             f"{smallest:.3g}")
        out.append(M)
    return out


def _riccati_step(A, B, Q, R, P):
    """Return (K, P_prev): one Bellman backup of the cost-to-go 1/2 x^T P x through the system."""
    BtP = B.T @ P
    K = np.linalg.solve(R + BtP @ B, BtP @ A)
    P_prev = Q + A.T @ P @ (A - B @ K)
    return K, 0.5 * (P_prev + P_prev.T)


def lqr(A, B, Q, R, horizon, Qf=None):
    """Return the finite-horizon LQR gains and cost-to-go matrices, by the Riccati recursion.

    The optimal controls are u_t = -K_t x_t, and the optimal cost from x at time t is
    1/2 x^T P_t x: the Bellman equation, solved exactly backwards from P_T = Qf.
    Args:
        A: (n, n), B: (n, m): the dynamics x_{t+1} = A x_t + B u_t.
        Q: (n, n) and R: (m, m) weights; Qf: (n, n) final weight (default Q).
        horizon: the number of steps T >= 1.
    Returns:
        (K, P): the gains, shape (T, m, n), and the cost-to-go matrices, shape (T + 1, n, n).
        Chapter 6.
    """
    A, B, Q, R, Qf = _check_system(A, B, Q, R, Q if Qf is None else Qf)
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1 (steps); got {horizon!r}")
    Ks, Ps = [], [Qf]
    for _ in range(horizon):
        K, P = _riccati_step(A, B, Q, R, Ps[0])
        Ks.insert(0, K)
        Ps.insert(0, P)
    return np.array(Ks), np.array(Ps)


def lqr_controls(A, B, Q, R, x0, horizon, Qf=None):
    """Return the optimal open-loop controls and states of finite-horizon LQR from ``x0``.

    Returns:
        (us, xs) of shapes (T, m) and (T + 1, n), from u_t = -K_t x_t of ``lqr``. Chapter 6.
    """
    Ks, _ = lqr(A, B, Q, R, horizon, Qf)
    xs, us = [np.asarray(x0, float)], []
    for K in Ks:
        us.append(-K @ xs[-1])
        xs.append(A @ xs[-1] + B @ us[-1])
    return np.array(us), np.array(xs)


def _unstabilisable_mode(A, B):
    """Return an eigenvalue of A with |lambda| >= 1 that B cannot reach (PBH test), or None."""
    n = A.shape[0]
    for lam in np.linalg.eigvals(A):
        if abs(lam) >= 1.0 - 1e-12:
            pencil = np.hstack([A - lam * np.eye(n), B])
            if np.linalg.matrix_rank(pencil, tol=1e-9 * max(1.0, np.abs(pencil).max())) < n:
                return lam
    return None


def lqr_gain(A, B, Q, R, tol=1e-12, max_iter=100_000):
    """Return the infinite-horizon LQR gain and cost-to-go, iterating the Riccati recursion.

    The recursion runs from P = Q until P stops changing (a fixed point: the discrete algebraic
    Riccati equation); u = -K x then minimises the cost over an endless horizon.
    Args:
        A, B, Q, R: as in ``lqr``; (A, B) must be stabilisable.
        tol: stop when max |P_new - P| <= tol max(1, max |P|).
        max_iter: the most Riccati steps to take.
    Returns:
        (K, P): the gain (m, n) and the cost-to-go matrix (n, n). Chapter 6.
    """
    A, B, Q, R = _check_system(A, B, Q, R)
    lam = _unstabilisable_mode(A, B)
    if lam is not None:
        raise ValueError(f"(A, B) is not stabilisable: the mode with eigenvalue {lam:.4g} "
                         "(|lambda| >= 1) cannot be moved by the controls, so no gain keeps the "
                         "state bounded; add an input that reaches it (a column of B) or use a "
                         "finite horizon (lqr)")
    P = Q
    for _ in range(max_iter):
        K, P_new = _riccati_step(A, B, Q, R, P)
        if np.abs(P_new - P).max() <= tol * max(1.0, np.abs(P_new).max()):
            P = P_new
            break
        P = P_new
    else:
        raise RuntimeError(f"the Riccati recursion did not reach a fixed point in {max_iter} "
                           "steps; raise max_iter or tol")
    K, _ = _riccati_step(A, B, Q, R, P)
    radius = np.abs(np.linalg.eigvals(A - B @ K)).max()
    if radius >= 1.0:
        raise ValueError(f"the fixed point does not stabilise the system (closed-loop spectral "
                         f"radius {radius:.4g} >= 1): a mode that is unstable is not seen by Q; "
                         "make Q positive definite")
    return K, P


# ---- the costate (adjoint) of the linear-quadratic problem ----

def costate(A, Q, xs, Qf=None):
    """Return the costates lambda_T = Qf x_T, lambda_t = Q x_t + A^T lambda_{t+1}, backwards.

    lambda_t is the derivative of the cost with respect to x_t (everything after it following):
    the adjoint that reverse mode carries through the rollout. The gradient of the cost with
    respect to u_t is then R u_t + B^T lambda_{t+1}.
    Args:
        A: (n, n); Q, Qf: (n, n) weights (Qf default Q); xs: the states, shape (T + 1, n).
    Returns:
        The costates, shape (T + 1, n). Chapter 6.
    """
    A = np.asarray(A, float)
    Q = np.asarray(Q, float)
    Qf = Q if Qf is None else np.asarray(Qf, float)
    xs = np.asarray(xs, float)
    if xs.ndim != 2 or xs.shape[1] != A.shape[0]:
        raise ValueError(f"xs must have shape (T + 1, {A.shape[0]}) to match A; got {xs.shape}")
    lams = [Qf @ xs[-1]]
    for x in xs[-2::-1]:
        lams.insert(0, Q @ x + A.T @ lams[0])
    return np.array(lams)


def lq_value_and_grad(A, B, Q, R, x0, us, Qf=None):
    """Return the LQ cost of ``us`` and its gradient, by a rollout and the costate recursion.

    No automatic differentiation: the adjoint written by hand. Args: as in ``lqr``; ``x0`` (n,);
    ``us`` (T, m). Returns: (cost, gradient of shape (T, m)). Chapter 6.
    """
    A, B, Q, R, Qf = _check_system(A, B, Q, R, Q if Qf is None else Qf)
    us = np.asarray(us, float)
    xs = rollout(lambda x, u: A @ x + B @ u, np.asarray(x0, float), us)
    lams = costate(A, Q, xs, Qf)
    return quadratic_cost(Q, R, Qf)(xs, us), us @ R + lams[1:] @ B


# ---- shooting: minimise over the controls through the rollout ----

def shooting(step, cost, x0, us0, method="lbfgs", **kwargs):
    """Minimise cost(rollout(step, x0, us), us) over the controls with ``course_lib.minimize``.

    Derivatives come from the reverse-mode tape through every step of the rollout (Newton's
    Hessian too, unless ``kwargs`` passes ``jac``, ``hess`` or ``hessp``).
    Args:
        step: the dynamics ``step(x, u)``; cost: ``cost(xs, us)`` -> a number.
        x0: (n,) initial state; us0: (T, m) first guess of the controls.
        method: any method of ``minimize`` ("lbfgs", "newton", "newton-cg", ...).
        kwargs: passed to ``minimize`` (gtol, maxiter, ...).
    Returns:
        ``minimize``'s OptimizeResult, with ``us`` (T, m) and ``xs`` (T + 1, n) added. Chapter 6.
    """
    us0 = np.asarray(us0, float)
    if us0.ndim != 2:
        raise ValueError(f"us0 must have shape (T, m); got shape {us0.shape}")
    x0 = np.asarray(x0, float)

    def objective(flat):
        us = np.reshape(flat, us0.shape)
        return cost(rollout(step, x0, us), us)
    result = minimize(objective, us0.ravel(), method=method, **kwargs)
    result.us = np.reshape(result.x, us0.shape)
    result.xs = rollout(step, x0, result.us)
    return result


# ---- iLQR ----

def _derivatives(step, cost, xs, us):
    """Return the dynamics' Jacobians and the cost's stage gradients and Hessian blocks."""
    n, m = xs.shape[1], us.shape[1]
    jacs = np.array([jacfwd(lambda z: step(z[:n], z[n:]))(np.concatenate([x, u]))
                     for x, u in zip(xs[:-1], us)])
    gx, gu = grad(cost, argnums=(0, 1))(xs, us)
    (hxx, hxu), (_, huu) = hessian(cost, argnums=(0, 1))(xs, us)
    t = np.arange(us.shape[0])
    T = us.shape[0]
    return (jacs[:, :, :n], jacs[:, :, n:], gx, gu, hxx[np.arange(T + 1), :, np.arange(T + 1)],
            hxu[t, :, t].transpose(0, 2, 1), huu[t, :, t])


def _backward(A, B, gx, gu, hxx, hux, huu, mu):
    """Return (k, K, expected decrease terms) of one iLQR backward pass, or None if Q_uu is not
    positive definite after adding mu I."""
    T, m = gu.shape
    Vx, Vxx = gx[-1], hxx[-1]
    ks, Ks, d1, d2 = [], [], 0.0, 0.0
    for t in range(T - 1, -1, -1):
        Qx = gx[t] + A[t].T @ Vx
        Qu = gu[t] + B[t].T @ Vx
        Qxx = hxx[t] + A[t].T @ Vxx @ A[t]
        Qux = hux[t] + B[t].T @ Vxx @ A[t]
        Quu = huu[t] + B[t].T @ Vxx @ B[t] + mu * np.eye(m)
        try:
            L = np.linalg.cholesky(0.5 * (Quu + Quu.T))
        except np.linalg.LinAlgError:
            return None
        k = -np.linalg.solve(L.T, np.linalg.solve(L, Qu))
        K = -np.linalg.solve(L.T, np.linalg.solve(L, Qux))
        Vx = Qx + K.T @ Quu @ k + K.T @ Qu + Qux.T @ k
        Vxx = Qxx + K.T @ Quu @ K + K.T @ Qux + Qux.T @ K
        Vxx = 0.5 * (Vxx + Vxx.T)
        d1, d2 = d1 + k @ Qu, d2 + 0.5 * k @ Quu @ k
        ks.insert(0, k)
        Ks.insert(0, K)
    return np.array(ks), np.array(Ks), d1, d2


def _gradient(A, B, gx, gu):
    """Return dJ/du_t = gu_t + B_t^T lambda_{t+1} by the costate recursion of the linearisation."""
    lam, out = gx[-1], np.empty_like(gu)
    for t in range(gu.shape[0] - 1, -1, -1):
        out[t] = gu[t] + B[t].T @ lam
        lam = gx[t] + A[t].T @ lam
    return out


def ilqr(step, cost, x0, us0, gtol=1e-6, maxiter=200, mu0=0.0):
    """Minimise cost(rollout(step, x0, us), us) by iterative LQR (second order in the cost).

    Each iteration linearises the dynamics (``jacfwd`` at every step), takes the gradient and
    Hessian of the cost with the tape, solves the resulting LQR problem backwards, and moves
    along it with a backtracking line search on the true rollout. Where Q_uu is not positive
    definite, mu I is added (Levenberg-Marquardt) and the backward pass repeated; the iterations
    that needed it are counted in ``n_regularised``.
    Args:
        step: dynamics ``step(x, u)``; cost: ``cost(xs, us)``, a sum of per-step terms (blocks
            that couple different times are ignored).
        x0: (n,) initial state; us0: (T, m) first guess.
        gtol: stop when the gradient of the cost with respect to the controls has norm <= gtol.
        maxiter: the most iterations; mu0: the first regularisation (0: none).
    Returns:
        An OptimizeResult with ``us``, ``xs``, ``fun``, ``nit``, ``success``, ``message``,
        ``grad_norm``, ``n_regularised`` and ``history`` ({"f", "grad_norm", "mu"} per
        iteration). Chapter 6.
    """
    x0, us = np.asarray(x0, float), np.array(us0, float)
    if us.ndim != 2:
        raise ValueError(f"us0 must have shape (T, m); got shape {us.shape}")
    xs = rollout(step, x0, us)
    J = float(cost(xs, us))
    mu, n_reg = mu0, 0
    history = {"f": [J], "grad_norm": [], "mu": []}
    message = "maximum iterations reached"
    for nit in range(maxiter + 1):
        A, B, gx, gu, hxx, hux, huu = _derivatives(step, cost, xs, us)
        gnorm = float(np.linalg.norm(_gradient(A, B, gx, gu)))
        history["grad_norm"].append(gnorm)
        if gnorm <= gtol:
            message = "gradient norm below gtol"
            break
        if nit == maxiter:
            break
        regularised = False
        while (back := _backward(A, B, gx, gu, hxx, hux, huu, mu)) is None:
            mu, regularised = max(1e-6, 10.0 * mu), True
            if mu > 1e10:
                raise RuntimeError("iLQR: Q_uu stays indefinite even with mu = 1e10")
        n_reg += regularised
        history["mu"].append(mu)
        ks, Ks, d1, d2 = back
        for alpha in 0.5 ** np.arange(12):
            new_xs, new_us = [x0], []
            for t in range(us.shape[0]):
                new_us.append(us[t] + alpha * ks[t] + Ks[t] @ (new_xs[-1] - xs[t]))
                new_xs.append(step(new_xs[-1], new_us[-1]))
            new_xs, new_us = np.array(new_xs), np.array(new_us)
            J_new = float(cost(new_xs, new_us))
            if J_new < J + 1e-4 * (alpha * d1 + alpha ** 2 * d2):
                break
        else:
            mu = max(1e-6, 10.0 * mu)  # no decrease along this step: trust the model less
            history["f"].append(J)
            if mu > 1e10:
                message = "the line search found no decrease even with mu = 1e10"
                break
            continue
        xs, us, J = new_xs, new_us, J_new
        mu = 0.0 if mu < 1e-5 else mu / 10.0
        history["f"].append(J)
    return _result_type()(us=us, xs=xs, fun=J, nit=nit, success=gnorm <= gtol, message=message,
                          grad_norm=gnorm, n_regularised=n_reg, history=history)


# ---- the pendulum of Gymnasium's Pendulum-v1 ----

def pendulum_step(x, u, xp=np):
    """Return the next state of Gymnasium's Pendulum-v1 from state x under torque u.

    Semi-implicit Euler with dt = 0.05 s: the angular speed changes by
    (3 g / (2 l) sin(theta) + 3 / (m l^2) u) dt, is clipped to +-8 rad/s, and then moves the
    angle. The torque is clipped to +-2 N m. theta = 0 is upright; the angle is not wrapped.
    Args:
        x: (theta rad, theta_dot rad/s), shape (2,); u: torque in N m, shape (1,).
        xp: the numpy module (``autograd.numpy`` for HIPS autograd).
    Returns:
        The next state, shape (2,). Chapter 6.
    """
    p = PENDULUM
    torque = xp.clip(u[0], -p["max_torque"], p["max_torque"])
    theta, speed = x[0], x[1]
    accel = 3 * p["g"] / (2 * p["l"]) * xp.sin(theta) + 3.0 / (p["m"] * p["l"] ** 2) * torque
    speed = xp.clip(speed + accel * p["dt"], -p["max_speed"], p["max_speed"])
    return xp.stack([theta + speed * p["dt"], speed])


def pendulum_torque(v, xp=np):
    """Return the torque max_torque tanh(v / max_torque): any v maps smoothly inside the limit.

    Args: v, an unbounded control (any shape). Returns: the torque in N m, same shape. Chapter 6.
    """
    limit = PENDULUM["max_torque"]
    return limit * xp.tanh(v / limit)


def swing_up_step(x, v, xp=np):
    """Return the pendulum's next state under the unbounded control v (torque pendulum_torque(v)).

    Args: x (2,), v (1,). Returns: (2,). Chapter 6.
    """
    return pendulum_step(x, pendulum_torque(v, xp), xp)


def swing_up_cost(xs, vs, xp=np, final=10.0, effort=0.01):
    """Return the swing-up cost: sum_t 2(1 - cos theta_t) + 0.1 theta_dot_t^2 + effort v_t^2.

    2(1 - cos theta) is Gymnasium's theta^2 near the top, smooth and periodic everywhere. The
    effort is charged on the unbounded control v, not on the torque, so that the optimum is
    finite even where the torque presses against its limit. The final state counts ``final``
    times. Args: xs (T + 1, 2), vs (T, 1). Returns: the cost (a number). Chapter 6.
    """
    stage = 2.0 * (1.0 - xp.cos(xs[:, 0])) + 0.1 * xs[:, 1] ** 2
    return xp.sum(stage[:-1]) + final * stage[-1] + effort * xp.sum(vs * vs)
