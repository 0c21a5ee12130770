"""Argument checks declared above a function, in one vocabulary.

scikit-learn's ``validate_params`` is the model: the rules for the arguments stand above the
function, so its body is the algorithm alone::

    @validate_params(
        x=Array("(N, C, H, W)", nonempty="C, H, W"),
        stride=Integer(minimum=1),
        method=OneOf("auto", "simple"),
        also=[_kernel_fits],
    )
    def conv2d(x, w, b=None, stride=1, padding=0, method="auto"): ...

Before the body runs, every declared argument (given or default) is checked in the order
declared and replaced by its checked value: an integer array becomes float64, a NumPy integer a
Python ``int``. Then each function in ``also`` is called with the checked arguments its own
parameters name. It checks a rule that joins several arguments (the channels of ``x`` and ``w``
agree, the kernel fits the padded input) and returns None, or a dict of arguments to replace.

A bad argument raises ``TypeError`` (wrong kind) or ``ValueError`` (right kind, wrong value)
with a message that names it. Each rule also knows some bad values of its own (``bad_values``)
and a good one (``example``), so one shared test calls every declared function with each of
them. The chapters show a function without its declaration
(:func:`cnn_tutorial.figures.source.teaching_source`); the full source below it shows all.
"""

from __future__ import annotations

import functools
import inspect
import math

import numpy as np

from .checks import (
    as_float_array,
    check_int,
    check_ndim,
    check_no_empty_axes,
    check_positive_float,
    check_progress,
    check_real,
)

__all__ = [
    "Arrays",
    "AnyArray",
    "Array",
    "Flag",
    "Images",
    "Instance",
    "Integer",
    "OneOf",
    "Optional",
    "Positive",
    "Progress",
    "Real",
    "Rule",
    "validate_params",
]

#: What :meth:`Rule.example` returns when a rule has no good value to offer.
NO_EXAMPLE = object()


class Rule:
    """A rule for one argument: ``check(name, value)`` returns the checked value or raises.

    The vocabulary below covers most arguments. ``Rule(check, bad=..., example=...)`` covers the
    rest: ``check`` is a function ``(name, value) -> value``, ``bad`` a list of
    ``(value, error type)`` it must refuse, ``example`` a value it accepts.
    """

    def __init__(self, check=None, *, bad=(), example=NO_EXAMPLE):
        self._check, self._bad, self._example = check, tuple(bad), example

    def check(self, name: str, value):
        return self._check(name, value)

    def bad_values(self) -> list[tuple[object, type[Exception]]]:
        """Values this rule refuses, each with the error it raises."""
        return list(self._bad)

    def example(self):
        """A value this rule accepts, or :data:`NO_EXAMPLE`."""
        return self._example


class Integer(Rule):
    """An integer (not a bool) ``>= minimum``; returned as ``int``."""

    def __init__(self, minimum: int):
        self.minimum = minimum

    def check(self, name, value):
        return check_int(name, value, self.minimum)

    def bad_values(self):
        return [
            (1.5, TypeError),
            (True, TypeError),
            (self.minimum - 1, ValueError),
        ]

    def example(self):
        return self.minimum


class Real(Rule):
    """A real number (not a bool); returned as ``float``."""

    def check(self, name, value):
        return check_real(name, value)

    def bad_values(self):
        return [("1", TypeError), (True, TypeError)]

    def example(self):
        return 0.5


class Positive(Rule):
    """A positive, finite real number; returned as ``float``."""

    def check(self, name, value):
        return check_positive_float(name, value)

    def bad_values(self):
        return [("1", TypeError), (0.0, ValueError), (math.inf, ValueError)]

    def example(self):
        return 1.0


class Flag(Rule):
    """``True`` or ``False``, nothing else (not 0 or 1)."""

    def check(self, name, value):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
        return value

    def bad_values(self):
        return [(1, TypeError), ("yes", TypeError)]

    def example(self):
        return False


class Progress(Rule):
    """Whether to draw a progress bar: ``True``, ``False`` or None (decide from the
    environment); returned as a bool (:func:`cnn_tutorial.checks.check_progress`)."""

    def check(self, name, value):
        return check_progress(value, name)

    def bad_values(self):
        return [(1, TypeError), ("yes", TypeError)]

    def example(self):
        return False


class OneOf(Rule):
    """One of a few values, compared with ``==``."""

    def __init__(self, *choices):
        self.choices = choices

    def check(self, name, value):
        if not any(value == choice for choice in self.choices):
            raise ValueError(
                f"{name} must be one of {self.choices}, got {value!r}"
            )
        return value

    def bad_values(self):
        return [("no such choice", ValueError)]

    def example(self):
        return self.choices[0]


class Instance(Rule):
    """An instance of one of ``types``; ``what`` names it in the message (default: the types)."""

    def __init__(self, *types: type, what: str = "", example=NO_EXAMPLE):
        self.types, self._example = types, example
        self.what = what or " or ".join(kind.__name__ for kind in types)

    def check(self, name, value):
        if not isinstance(value, self.types):
            raise TypeError(
                f"{name} must be a {self.what}, got {type(value).__name__}"
            )
        return value

    def bad_values(self):
        return [(_Stranger(), TypeError)]


class _Stranger:
    """A value of a type no rule accepts, whose name no message contains by chance."""


class Optional(Rule):
    """None, or a value that ``rule`` accepts."""

    def __init__(self, rule: Rule):
        self.rule = rule

    def check(self, name, value):
        return None if value is None else self.rule.check(name, value)

    def bad_values(self):
        return self.rule.bad_values()

    def example(self):
        return None


class Array(Rule):
    """A real array with the axes named by ``layout``, e.g. ``"(N, C, H, W)"``.

    Returned as float (float32 and float64 pass unchanged; integers and bools become float64).
    ``nonempty`` names the axes that must have at least one entry, e.g. ``"C, H, W"``.
    """

    def __init__(self, layout: str, nonempty: str = ""):
        self.layout = layout
        names = layout.strip("()").split(", ")
        self.ndim = len(names) if names != [""] else 0
        wanted = [axis for axis in nonempty.split(", ") if axis]
        unknown = [axis for axis in wanted if axis not in names]
        if unknown:
            raise ValueError(
                f"nonempty names axes {unknown} that {layout} lacks"
            )
        # Every axis of a name: "k" is both sides of an (F, C, k, k) filter.
        self.nonempty = tuple(
            i for i, axis in enumerate(names) if axis in wanted
        )

    def check(self, name, value):
        array = as_float_array(name, value)
        check_ndim(name, array, self.ndim, self.layout)
        if self.nonempty:
            check_no_empty_axes(name, array, self.layout, self.nonempty)
        return array

    def bad_values(self):
        bad = [
            (np.array(["a"] * 2), TypeError),
            (np.zeros((1,) * (self.ndim + 1)), ValueError),
        ]
        if self.nonempty:
            shape = [2] * self.ndim
            shape[self.nonempty[0]] = 0
            bad.append((np.zeros(shape), ValueError))
        return bad

    def example(self):
        return np.ones((2,) * self.ndim)


class AnyArray(Rule):
    """A real array of any shape (an element-wise operation's input, a gradient whose shape
    a relation with the other arguments checks); returned as float, as :class:`Array`."""

    def check(self, name, value):
        return as_float_array(name, value)

    def bad_values(self):
        return [(np.array(["a"] * 2), TypeError)]

    def example(self):
        return np.ones(2)


class Images(Rule):
    """A batch of images, each of shape ``image`` (default one MNIST digit, ``(1, 28, 28)``);
    returned as float32, the dtype the numpy networks compute in."""

    def __init__(self, image: tuple[int, ...] = (1, 28, 28)):
        self.image = tuple(image)
        self.layout = f"(N, {', '.join(map(str, self.image))})"

    def check(self, name, value):
        images = np.asarray(value, dtype=np.float32)
        check_ndim(name, images, 1 + len(self.image), self.layout)
        if images.shape[1:] != self.image:
            raise ValueError(
                f"{name} must have shape {self.layout}, got {images.shape}"
            )
        return images

    def bad_values(self):
        smaller = (*self.image[:-1], self.image[-1] - 1)
        return [
            (np.zeros((2, *self.image[1:])), ValueError),
            (np.zeros((2, *smaller)), ValueError),
        ]

    def example(self):
        return np.zeros((1, *self.image), dtype=np.float32)


class Arrays(Rule):
    """A dict with an array for each name of ``shapes`` (other keys are left out), each of its
    shape; returned as a new dict in the order of ``shapes``.

    ``floats``: the arrays must hold floats already. ``column_biases``: a 1-D entry ``(F,)`` may
    also come as the classic ``(F, 1)``. ``dtype``: the arrays are returned as that dtype.
    """

    def __init__(
        self, shapes: dict, *, floats=False, column_biases=False, dtype=None
    ):
        self.shapes, self.floats = shapes, floats
        self.column_biases, self.dtype = column_biases, dtype

    def check(self, name, value):
        if not isinstance(value, dict):
            raise TypeError(
                f"{name} must be a dict of arrays such as NumpyCNN.params, "
                f"got {type(value).__name__}"
            )
        missing = sorted(set(self.shapes) - set(value))
        if missing:
            raise ValueError(
                f"{name} is missing {missing}; expected keys {sorted(self.shapes)}"
            )
        checked = {}
        for key, shape in self.shapes.items():
            array = np.asarray(value[key])
            if self.floats and array.dtype.kind != "f":
                raise TypeError(
                    f"{name}[{key!r}] must hold floats, got dtype {array.dtype}"
                )
            if (
                self.column_biases
                and array.shape == (*shape, 1)
                and len(shape) == 1
            ):
                array = array.reshape(shape)  # the classic (F, 1) bias
            if array.shape != shape:
                raise ValueError(
                    f"{name}[{key!r}] must have shape {shape}, got {array.shape}"
                )
            checked[key] = (
                array if self.dtype is None else array.astype(self.dtype)
            )
        return checked

    def bad_values(self):
        wrong = {
            key: np.zeros((*shape, 2)) for key, shape in self.shapes.items()
        }
        return [([], TypeError), ({}, ValueError), (wrong, ValueError)]

    def example(self):
        return {key: np.zeros(shape) for key, shape in self.shapes.items()}


class Declaration:
    """The checks declared for one function; ``validate_params`` puts one on it as
    ``__declaration__``."""

    def __init__(self, function, rules: dict[str, Rule], also):
        self.rules, self.also = rules, tuple(also)
        self.signature = inspect.signature(function)
        self._also_names = [
            tuple(inspect.signature(relation).parameters)
            for relation in self.also
        ]
        known = self.signature.parameters
        for name in [
            *rules,
            *(n for names in self._also_names for n in names),
        ]:
            if name not in known:
                raise TypeError(
                    f"{function.__qualname__} has no parameter {name!r} to check"
                )
        kinds = [parameter.kind for parameter in known.values()]
        # Binding by hand is several times faster than Signature.bind; it covers
        # every signature without *args, **kwargs or positional-only parameters.
        self._simple = all(
            kind
            in (
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY,
            )
            for kind in kinds
        )
        self._positional = [
            name
            for name, parameter in known.items()
            if parameter.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        self._defaults = {
            name: parameter.default
            for name, parameter in known.items()
            if parameter.default is not inspect.Parameter.empty
        }

    def arguments(self, args, kwargs) -> dict | None:
        """The checked arguments of a call, by name; None when the call itself is wrong (too
        many, missing or unknown arguments), which Python then reports in its own words."""
        if self._simple:
            if len(args) > len(self._positional):
                return None
            arguments = dict(self._defaults)
            arguments.update(zip(self._positional, args))
            for name in kwargs:
                if (
                    name in self._positional[: len(args)]
                    or name not in self.signature.parameters
                ):
                    return None
            arguments.update(kwargs)
            if len(arguments) != len(self.signature.parameters):
                return None
        else:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError:
                return None
            bound.apply_defaults()
            arguments = bound.arguments
        for name, rule in self.rules.items():
            arguments[name] = rule.check(name, arguments[name])
        for relation, names in zip(
            self.also, self._also_names, strict=True
        ):
            replaced = relation(*(arguments[name] for name in names))
            if replaced:
                arguments.update(replaced)
        return arguments


def validate_params(*, also=(), **rules: Rule):
    """Declare the checks of a function's arguments: one :class:`Rule` per argument by name,
    and in ``also`` the functions that check several arguments together."""
    for name, rule in rules.items():
        if not isinstance(rule, Rule):
            raise TypeError(
                f"the rule for {name} must be a Rule, got {type(rule).__name__}"
            )

    def decorate(function):
        declaration = Declaration(function, rules, also)
        signature = declaration.signature

        @functools.wraps(function)
        def checked(*args, **kwargs):
            arguments = declaration.arguments(args, kwargs)
            if arguments is None:  # a wrong call: Python says what is wrong
                return function(*args, **kwargs)
            if declaration._simple:
                return function(**arguments)
            bound = inspect.BoundArguments(signature, arguments)
            return function(*bound.args, **bound.kwargs)

        checked.__declaration__ = declaration
        return checked

    return decorate
