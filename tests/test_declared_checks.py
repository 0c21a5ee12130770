"""The argument checks of the whole package, declared once (cnn_tutorial.params).

One shared test calls every declared function with each of its rules' bad values and expects the
rule's error, naming the argument. Two guards keep the checks declared: no function body opens
with argument checks, and the check helpers of ``cnn_tutorial.checks`` are called only by the
rules themselves.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap

import numpy as np
import pytest

import cnn_tutorial
from cnn_tutorial import params
from cnn_tutorial.params import (
    NO_EXAMPLE,
    Array,
    Flag,
    Instance,
    Integer,
    OneOf,
    Optional,
    Positive,
    Progress,
    Real,
    Rule,
    validate_params,
)

# Modules that define the rules rather than use them.
RULE_MODULES = {"cnn_tutorial.checks", "cnn_tutorial.params"}


def _modules():
    for info in pkgutil.walk_packages(cnn_tutorial.__path__, "cnn_tutorial."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def _functions():
    """``(qualified name, function object as found, the callable to call)`` for every function and
    method defined in the package (functions of a class's ``__init__`` are called through the class)."""
    for module in _modules():
        for name, obj in sorted(vars(module).items()):
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj, obj
            elif inspect.isclass(obj):
                for attribute, method in sorted(vars(obj).items()):
                    if isinstance(method, (staticmethod, classmethod)):
                        method = method.__func__
                    if inspect.isfunction(method):
                        caller = obj if attribute == "__init__" else method
                        yield f"{module.__name__}.{name}.{attribute}", method, caller


DECLARED = [
    (name, caller, function.__declaration__)
    for name, function, caller in _functions()
    if hasattr(function, "__declaration__")
]


class Unset:
    """Stands for an argument the call never reaches."""


def _cases():
    """One call per bad value of every rule: the rules declared before it get their example, the
    arguments after it a placeholder (checks run in the order declared and stop at the first)."""
    for name, caller, declaration in DECLARED:
        signature = declaration.signature
        before = {}
        for parameter, rule in declaration.rules.items():
            for value, error in rule.bad_values():
                yield pytest.param(
                    caller, signature, dict(before), parameter, value, error,
                    id=f"{name}-{parameter}-{type(value).__name__}",
                )  # fmt: skip
            example = rule.example()
            if example is NO_EXAMPLE:
                break
            before[parameter] = example


CASES = list(_cases())

# Arguments whose message names them in other words, each fixed word for word by its own test.
NAMED_OTHERWISE = {("figure_html", "obj"): "show()"}  # figures.display: the reader called show()


def _call(caller, signature, arguments):
    """``caller(**arguments)``, every other required parameter an ``Unset`` (a class, called for
    its ``__init__``, gives ``self`` itself)."""
    for parameter in signature.parameters.values():
        required = parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_POSITIONAL,
            parameter.VAR_KEYWORD,
        )
        given = parameter.name in arguments
        made = parameter.name == "self" and inspect.isclass(caller)
        if required and not given and not made:
            arguments[parameter.name] = Unset()
    positional = [
        arguments.pop(p.name)
        for p in signature.parameters.values()
        if p.kind == p.POSITIONAL_ONLY and p.name in arguments
    ]
    return caller(*positional, **arguments)


@pytest.mark.parametrize("caller, signature, before, parameter, value, error", CASES)
def test_every_declared_rule_refuses_its_bad_values_naming_the_argument(
    caller, signature, before, parameter, value, error
):
    with pytest.raises(error) as info:
        _call(caller, signature, {**before, parameter: value})
    named = NAMED_OTHERWISE.get((caller.__qualname__, parameter), parameter)
    assert named in str(info.value), str(info.value)


def test_every_declared_argument_is_exercised():
    """Each rule refuses at least one value, and every rule before it offers a good one."""
    reached = {(case.values[0], case.values[3]) for case in CASES}
    missing = [
        f"{name}: {parameter}"
        for name, caller, declaration in DECLARED
        for parameter in declaration.rules
        if (caller, parameter) not in reached
    ]
    assert not missing, "declared arguments that no bad value reaches:\n" + "\n".join(missing)
    assert len(DECLARED) >= 40  # the package declares its checks; this is not an empty sweep


# --- The checks stay declared --------------------------------------------------------------------

# The helpers that validate an argument; only rules (and the functions a declaration names) call them.
CHECK_HELPERS = {
    "as_float_array",
    "check_bias",
    "check_int",
    "check_ndim",
    "check_no_empty_axes",
    "check_positive_float",
    "check_progress",
    "check_real",
    "check_window_fits",
}


def _rule_functions() -> set:
    """The functions declarations name: the ``also`` checks and the functions of ``Rule(check)``."""
    found = set()
    for _, _, declaration in DECLARED:
        found.update(declaration.also)
        for rule in declaration.rules.values():
            while isinstance(rule, Optional):
                rule = rule.rule
            if type(rule) is Rule:
                found.add(rule._check)
    return found


def _package_functions_to_guard():
    """Every function written in the package, except the rules and what declarations name."""
    rules = _rule_functions()
    for name, function, _ in _functions():
        if function.__module__ in RULE_MODULES or function in rules:
            continue
        code = inspect.unwrap(function).__code__
        if not code.co_filename.startswith(cnn_tutorial.__path__[0]):
            continue  # made by code (a named tuple's _make, a dataclass's __init__)
        owner = vars(inspect.getmodule(function)).get(function.__qualname__.split(".")[0])
        if inspect.isclass(owner) and issubclass(owner, Rule):
            continue  # a rule of the vocabulary, defined where it is used
        yield name, inspect.unwrap(function)


def _called_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def _is_check(statement: ast.stmt) -> bool:
    """Whether ``statement`` only validates arguments: ``if ...: raise ...`` (perhaps after assigning
    the message), a loop of such checks, or a call of a check helper."""
    if isinstance(statement, ast.If):
        block = statement.body
        message = all(isinstance(line, ast.Assign) for line in block[:-1])
        otherwise = statement.orelse
        return (
            isinstance(block[-1], ast.Raise)
            and message
            and (not otherwise or (len(otherwise) == 1 and _is_check(otherwise[0])))
        )
    if isinstance(statement, ast.For):
        return not statement.orelse and all(_is_check(line) for line in statement.body)
    if isinstance(statement, (ast.Expr, ast.Assign)):
        name = _called_name(statement.value).lstrip("_")
        return name in CHECK_HELPERS or name.startswith(("check_", "validate_"))
    return False


def _body(function) -> list[ast.stmt]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    statements = tree.body[0].body
    if (
        statements
        and isinstance(statements[0], ast.Expr)
        and isinstance(statements[0].value, ast.Constant)
    ):
        statements = statements[1:]  # the docstring
    return statements


GUARDED = list(_package_functions_to_guard())


# Checks that open a body but test what no argument says by itself, each with what it tests.
NOT_ARGUMENT_CHECKS = {
    "cnn_tutorial.fast.fourier.correlate": "its spectra against the allocation ceiling",
    "cnn_tutorial.fast.fourier.correlate_backward": "its spectra against the allocation ceiling",
    "cnn_tutorial.fast.parallel.GradientWorkers.loss_and_gradients": "the workers' buffer size",
    "cnn_tutorial.figures.what_it_sees.feature_maps_figure": "the width of the finished figure",
    "cnn_tutorial.mnist_files._read_idx_stream": "the header read from a file",
    "cnn_tutorial.pytorch.distributed._launcher_variable": "the launcher's environment",
    "cnn_tutorial.pytorch.distributed.torchrun": "the exit status of the finished group",
}


def _opening_check(statements: list[ast.stmt]) -> ast.stmt | None:
    """The first check among the statements that open a body: checks and assignments (a message,
    a count to test), up to the first other statement. The last statement never counts."""
    for statement in statements[:-1]:
        if _is_check(statement):
            return statement
        if not isinstance(statement, (ast.Assign, ast.AnnAssign)):
            return None
    return None


def test_no_function_body_opens_with_argument_checks():
    opening = []
    for name, function in GUARDED:
        check = _opening_check(_body(function))
        if check is not None and name not in NOT_ARGUMENT_CHECKS:
            opening.append(f"{name}: line {check.lineno}: {ast.unparse(check)[:60]}")
    assert not opening, "declare these checks with validate_params:\n" + "\n".join(opening)


def test_each_check_left_in_a_body_is_still_there():
    guarded = dict(GUARDED)
    stale = [name for name in NOT_ARGUMENT_CHECKS if _opening_check(_body(guarded[name])) is None]
    assert not stale, stale


def test_only_rules_call_the_check_helpers():
    calls = []
    for name, function in GUARDED:
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(function)))):
            if _called_name(node) in CHECK_HELPERS:
                calls.append(f"{name}: {_called_name(node)}")
    assert not calls, "check helpers called outside the declared rules:\n" + "\n".join(calls)


def test_the_guard_sees_a_check_that_opens_a_body():
    def opens_with_a_check(x):
        """Doc."""
        if x < 0:
            raise ValueError("x must be >= 0")
        return x

    def counts_then_checks(x):
        n = len(x)
        if n == 0:
            raise ValueError("x must not be empty")
        return n

    def works_then_checks(x):
        for _ in x:
            pass
        if x:
            raise ValueError("not an opening check")
        return x

    assert _is_check(_body(opens_with_a_check)[0])
    assert _opening_check(_body(opens_with_a_check)) is not None
    assert _opening_check(_body(counts_then_checks)) is not None
    assert _opening_check(_body(works_then_checks)) is None


# --- The vocabulary and the decorator ------------------------------------------------------------


@validate_params(
    x=Array("(N, D)", nonempty="D"),
    n=Integer(minimum=1),
    rate=Positive(),
    shift=Optional(Real()),
    flag=Flag(),
    mode=OneOf("a", "b"),
    progress=Progress(),
    also=[lambda x, n: {"n": n * 10} if x.shape[0] == 1 else None],
)
def _sample(x, n=1, rate=1.0, shift=None, flag=False, mode="a", progress=False):
    return x, n, rate, shift, flag, mode, progress


def test_checked_values_replace_the_arguments_and_relations_may_replace_them_again():
    x, n, rate, shift, flag, mode, progress = _sample(
        np.ones((2, 3), dtype=np.int64), np.int64(2), 3
    )
    assert x.dtype == np.float64 and type(n) is int and n == 2 and type(rate) is float
    assert (shift, flag, mode, progress) == (None, False, "a", False)
    assert _sample(np.ones((1, 3)), 2)[1] == 20
    assert _sample(np.ones((2, 3), dtype=np.float32))[0].dtype == np.float32


def test_defaults_are_checked_too():
    @validate_params(n=Integer(minimum=1))
    def bad_default(n=0):
        return n

    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        bad_default()


def test_a_wrong_call_gets_pythons_own_error():
    with pytest.raises(TypeError, match=r"_sample\(\) got an unexpected keyword argument 'y'"):
        _sample(np.ones((2, 3)), y=1)


def test_a_declaration_must_name_parameters_of_its_function():
    with pytest.raises(TypeError, match="has no parameter 'm' to check"):

        @validate_params(m=Integer(minimum=0))
        def f(n):
            return n

    with pytest.raises(TypeError, match="the rule for n must be a Rule, got int"):
        validate_params(n=3)


def test_the_declared_function_keeps_its_name_signature_and_source():
    assert _sample.__name__ == "_sample" and "flag=False" in str(inspect.signature(_sample))
    assert inspect.getsource(_sample).startswith("@validate_params(")


def test_instance_and_rule_messages_name_the_argument():
    with pytest.raises(TypeError, match="saved must be a dict, got list"):
        Instance(dict).check("saved", [])
    odd = Rule(lambda name, value: value, bad=[(1, ValueError)], example=0)
    assert odd.bad_values() == [(1, ValueError)] and odd.example() == 0
    assert params.Rule().example() is NO_EXAMPLE


def test_an_array_rule_checks_every_axis_of_a_repeated_name():
    filters = Array("(F, C, k, k)", nonempty="F, C, k")
    assert filters.nonempty == (0, 1, 2, 3)
    with pytest.raises(ValueError, match=r"filt must have at least 1 entry along k, k"):
        filters.check("filt", np.zeros((2, 1, 0, 0)))
    with pytest.raises(ValueError, match=r"along k;"):
        filters.check("filt", np.zeros((2, 1, 3, 0)))
    with pytest.raises(ValueError, match=r"nonempty names axes \['K'\]"):
        Array("(F, C, k, k)", nonempty="K")


def test_an_arrays_rule_copies_in_order_and_may_flatten_column_biases():
    shapes = {"w": (2, 3), "b": (2,)}
    rule = params.Arrays(shapes, floats=True, column_biases=True, dtype=np.float32)
    given = {"b": np.ones((2, 1)), "w": np.ones((2, 3)), "extra": 1}
    checked = rule.check("params", given)
    assert list(checked) == ["w", "b"] and checked["b"].shape == (2,)
    assert all(value.dtype == np.float32 for value in checked.values())
    with pytest.raises(TypeError, match=r"params\['w'\] must hold floats, got dtype int64"):
        rule.check("params", {"w": np.ones((2, 3), np.int64), "b": np.ones(2)})
    with pytest.raises(ValueError, match=r"params\['b'\] must have shape \(2,\), got \(2, 1\)"):
        params.Arrays(shapes).check("params", given)


def test_a_signature_with_star_args_or_positional_only_parameters_is_bound_the_slow_way():
    @validate_params(n=Integer(minimum=1), scale=Positive())
    def total(n, /, *values, scale=1.0, **options):
        return n, values, scale, options

    assert total(np.int64(2), 3, 4, scale=2, flag=True) == (2, (3, 4), 2.0, {"flag": True})
    assert type(total(2)[2]) is float
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        total(0, 1)
    with pytest.raises(TypeError, match="missing 1 required positional argument: .n."):
        total(n=2)
