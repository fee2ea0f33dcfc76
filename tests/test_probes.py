"""Tests of course_lib.probes: functions made unavailable to, or replaced for, one answer."""
import autograd
import numpy as np
import pytest

import course_lib
from course_lib import dual, probes


def learner_code(source):
    """Define functions as a notebook does: in a namespace of their own."""
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    return namespace


SOURCE = """
import numpy as np
import course_lib
from course_lib import jacfwd, jvp
from autograd import jacobian as ag_jacobian

def by_name(x):
    return jacfwd(np.sin)(x)

def by_module(x):
    return course_lib.dual.jacfwd(np.sin)(x)

def by_autograd(x):
    return ag_jacobian(np.sin)(x)

def jacobian(x):
    return np.stack([jvp(np.sin, x, e)[1] for e in np.eye(len(x))], axis=1)
"""


def test_every_route_to_a_ruled_out_function_is_refused_and_restored():
    ns = learner_code(SOURCE)
    x = np.array([0.1, 0.2])
    originals = (course_lib.jacfwd, dual.jacfwd, autograd.jacobian, ns["jacfwd"])
    for name in ("by_name", "by_module", "by_autograd"):
        with probes.unavailable(ns[name], course_lib.jacfwd, autograd.jacobian, reason="build it"):
            with pytest.raises(probes.NotAvailable, match=r"^(jacfwd|jacobian) is not available "
                                                          r"here: build it$"):
                ns[name](x)
            # The learner's own function named like a ruled-out one is untouched, and works.
            assert np.allclose(ns["jacobian"](x), np.diag(np.cos(x)))
    assert (course_lib.jacfwd, dual.jacfwd, autograd.jacobian, ns["jacfwd"]) == originals
    assert np.allclose(ns["by_name"](x), np.diag(np.cos(x)))


def test_replaced_calls_the_substitute_and_restores_after_an_error():
    ns = learner_code(SOURCE)
    calls = []

    def counting_jvp(f, x, v, _jvp=course_lib.jvp):
        calls.append(1)
        return _jvp(f, x, v)
    with pytest.raises(ZeroDivisionError):
        with probes.replaced(ns["jacobian"], {course_lib.jvp: counting_jvp}):
            ns["jacobian"](np.array([0.1, 0.2, 0.3]))
            assert len(calls) == 3, "one jvp per input"
            1 / 0
    assert ns["jvp"] is course_lib.jvp is dual.jvp
    ns["jacobian"](np.array([0.1]))
    assert len(calls) == 3
