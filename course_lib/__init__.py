"""Differentiable Programming, hands-on: the library the chapters build, one idea per module."""
from .adjoint import adjoint_gradient, forward_sensitivities, rk4
from .cannon import (AimResult, aim, closed_form_angle, closed_form_range, landing_distance,
                     landing_steps, max_range, mlp_apply, mlp_init, positions, trajectory)
from .control import (costate, double_integrator, ilqr, linear_step, lq_value_and_grad, lqr,
                      lqr_controls, lqr_gain, pendulum_step, pendulum_torque, quadratic_cost,
                      rollout, shooting, swing_up_cost, swing_up_step)
from .dynprog import greedy_control, grid_interpolate, value_iteration
from .datasets import ChecksumError, data_path, verify_all
from .dual import Dual, derivative, jacfwd, jvp
from .embeddings import Embeddings, NgramEncoder, UnknownWordError, load_glove, load_movie_reviews
from .numerics import central_difference, check_grads, complex_step, forward_difference
from .optim import minimize
from .reverse import grad, hessian, hvp, jacrev, value_and_grad, vjp
from .rules.custom import custom_jvp, stop_gradient
from .rules.elementwise import defjvp
from .wengert import trace
from .staging import DataDependentBranch, grad_program, make_program, vjp_program
from .compiling import compiled_grad, jit, to_source

__all__ = [
    "ChecksumError", "data_path", "verify_all",
    "Dual", "derivative", "jvp", "jacfwd",
    "load_glove", "Embeddings", "UnknownWordError", "NgramEncoder", "load_movie_reviews",
    "forward_difference", "central_difference", "complex_step", "check_grads",
    "grad", "value_and_grad", "vjp", "jacrev", "hessian", "hvp", "trace",
    "defjvp", "custom_jvp", "stop_gradient",
    "minimize", "OptimizeResult",
    "landing_distance", "landing_steps", "closed_form_range", "closed_form_angle", "trajectory",
    "max_range",
    "aim", "AimResult", "mlp_init", "mlp_apply", "positions",
    "rollout", "linear_step", "double_integrator", "quadratic_cost", "lqr", "lqr_controls",
    "lqr_gain", "costate", "lq_value_and_grad", "shooting", "ilqr", "pendulum_step",
    "pendulum_torque", "swing_up_step", "swing_up_cost",
    "make_program", "grad_program", "vjp_program", "DataDependentBranch", "jit", "compiled_grad",
    "to_source",
    "grid_interpolate", "value_iteration", "greedy_control",
    "rk4", "forward_sensitivities", "adjoint_gradient",
]


def __getattr__(name):
    """``OptimizeResult`` (scipy's type) is made at first use: importing scipy.optimize is slow."""
    if name == "OptimizeResult":
        from .optim import _result_type
        return _result_type()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
