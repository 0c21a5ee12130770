"""Receptive fields: the input pixels a unit of a feature map depends on.

A unit of the first convolution sees a ``k x k`` window of the input. A unit of the next layer sees
``k x k`` units of the first, whose windows overlap: together they cover a larger square of the
input.
Layer by layer, with kernel ``k_l`` and stride ``s_l`` (no padding, as in the book), three numbers
describe every unit of map ``l`` along one axis:

* the **size** of its field, ``r_l = r_{l-1} + (k_l - 1) * j_{l-1}``, in input pixels;
* the **jump** between the fields of neighbouring units, ``j_l = j_{l-1} * s_l``;
* the **centre** of unit 0's field, ``c_l = c_{l-1} + (k_l - 1) / 2 * j_{l-1}``;

starting from the input itself, ``r_0 = 1``, ``j_0 = 1``, ``c_0 = 0``. Unit ``i`` of map ``l`` then
sees the input rows (or columns) ``c_l + i * j_l - (r_l - 1) / 2`` to
``c_l + i * j_l + (r_l - 1) / 2``.
:func:`receptive_fields` computes them;
:func:`~cnn_tutorial.figures.receptive_field.receptive_field_explorer` draws them for every unit of
the book's network.

Where a stride is larger than its kernel, some input pixels between a unit's windows are skipped:
the field then has holes, and the rectangle is the smallest one holding it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_int, output_size
from ..params import Integer, Rule, validate_params

__all__ = ["BOOK_LAYERS", "Field", "receptive_fields"]

#: The book's numpy CNN up to the pooled map, one ``(name, kernel, stride)`` per layer: two 5x5
#: convolutions, stride 1, then 2x2 max pooling, stride 2 (:mod:`cnn_tutorial.numpy_net`).
BOOK_LAYERS = (("conv1", 5, 1), ("conv2", 5, 1), ("pool", 2, 2))


class Field(NamedTuple):
    """The receptive fields of one layer's units, along one axis (rows or columns).

    Unit ``i`` of the layer's map sees the input pixels ``first(i)`` to ``first(i) + size - 1``,
    with ``first(i) = centre + i * jump - (size - 1) / 2``.
    """

    name: str  #: the layer's name
    units: int  #: how many units the map has along the axis
    size: int  #: pixels of the input each unit sees along the axis
    jump: int  #: input pixels between the fields of two neighbouring units
    centre: float  #: input position of the centre of unit 0's field


# ----------------------------------------------------------------------------- rules


def _layer_table(name, layers) -> tuple[tuple[str, int, int], ...]:
    """``layers`` as a tuple of ``(name, kernel, stride)``, names distinct, or a clear error."""
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise TypeError(
            f"{name} must be a sequence of (name, kernel, stride) tuples, got {layers!r}"
        )
    checked = []
    for number, layer in enumerate(layers):
        if (
            isinstance(layer, (str, bytes))
            or not hasattr(layer, "__len__")
            or len(layer) != 3
        ):
            raise TypeError(
                f"{name}[{number}] must be a (name, kernel, stride) tuple, got {layer!r}"
            )
        label, kernel, stride = layer
        if not isinstance(label, str) or not label or label == "input":
            raise ValueError(
                f"{name}[{number}]'s name must be a non-empty string other than "
                f"'input', got {label!r}"
            )
        checked.append(
            (
                label,
                check_int(f"{name}[{number}]'s kernel", kernel, 1),
                check_int(f"{name}[{number}]'s stride", stride, 1),
            )
        )
    if not checked:
        raise ValueError(
            f"{name} must hold at least one (name, kernel, stride) layer, got none"
        )
    names = [label for label, _, _ in checked]
    if len(set(names)) < len(names):
        raise ValueError(f"{name} must have distinct names, got {names}")
    return tuple(checked)


#: The rule for a stack of layers, ``(name, kernel, stride)`` each (:data:`BOOK_LAYERS`).
LAYERS = Rule(
    _layer_table,
    bad=[
        ("conv", TypeError),
        ([("a", 3)], TypeError),
        ([("input", 3, 1)], ValueError),
        ([("a", 0, 1)], ValueError),
        ([], ValueError),
        ([("a", 3, 1), ("a", 3, 1)], ValueError),
    ],
    example=BOOK_LAYERS,
)


def map_sizes(
    layers, input_size: int, axis: str = "input_size"
) -> list[int]:
    """Units along one axis of each map, the input first; an error if a layer's kernel won't fit."""
    sizes, path = [input_size], f"{axis} {input_size}"
    for name, kernel, stride in layers:
        if kernel > sizes[-1]:
            raise ValueError(
                f"layers: {name}'s kernel {kernel} is larger than the {sizes[-1]} units its "
                f"input has along an axis ({path})"
            )
        sizes.append(output_size(sizes[-1], kernel, stride))
        path += f", {sizes[-1]} after {name}"
    return sizes


# ----------------------------------------------------------------------------- the rule


@validate_params(layers=LAYERS, input_size=Integer(minimum=1))
def receptive_fields(layers, input_size: int) -> tuple[Field, ...]:
    """Receptive field of each layer of a stack of convolutions and pools.

    No padding; the same rule holds for a convolution and a pooling
    window. Along one axis, from the input (size 1, jump 1, centre 0):
    ``size += (kernel - 1) * jump``, ``centre += (kernel - 1) / 2 *
    jump``, then ``jump *= stride``.

    Parameters
    ----------
    layers : sequence of (str, int, int)
        ``(name, kernel, stride)`` per layer, from the input on, e.g.
        :data:`BOOK_LAYERS`.
    input_size : int
        Pixels of the input along the axis, e.g. 28.

    Returns
    -------
    tuple of Field
        One per layer: its ``name``, ``units`` (the map's side),
        ``size``, ``jump`` and ``centre``, in input pixels.
    """
    units = map_sizes(layers, input_size)[1:]
    size, jump, centre = 1, 1, 0.0  # the input: each pixel sees itself
    fields = []
    for (name, kernel, stride), n in zip(layers, units):
        size += (kernel - 1) * jump  # kernel units, jump pixels apart
        centre += (kernel - 1) / 2 * jump  # the middle of unit 0's window
        jump *= stride  # the next unit's window: stride units on
        fields.append(Field(name, n, size, jump, centre))
    return tuple(fields)


def _first(field: Field) -> np.ndarray:
    """Per unit of ``field``'s map, the first pixel (or unit) of its field: ints, shape (units,)."""
    return (
        field.centre
        - (field.size - 1) / 2
        + np.arange(field.units) * field.jump
    ).astype(int)


def fields_in(layers, row_sizes, col_sizes, lower: int, upper: int) -> dict:
    """Per unit of map ``upper`` (row-major), its field in map ``lower`` (0 is the input): first
    and last row and column, by :func:`receptive_fields` on the layers between (from ``lower``)."""
    if lower == upper:
        rows, cols = (
            np.arange(row_sizes[upper]),
            np.arange(col_sizes[upper]),
        )
        row_field = col_field = Field("", 0, 1, 1, 0.0)
    else:
        row_field = receptive_fields(layers[lower:upper], row_sizes[lower])[
            -1
        ]
        col_field = receptive_fields(layers[lower:upper], col_sizes[lower])[
            -1
        ]
        rows, cols = _first(row_field), _first(col_field)
    first_row, first_col = (
        a.ravel() for a in np.meshgrid(rows, cols, indexing="ij")
    )
    return dict(
        first_row=first_row,
        last_row=first_row + row_field.size - 1,
        first_col=first_col,
        last_col=first_col + col_field.size - 1,
    )
