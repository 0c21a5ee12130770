"""Diagrams of the networks, drawn as SVG from the package's own numbers.

* :func:`network_diagram` stacks a network's layers top to bottom, each with its output shape
  and its parameter count, and the total; the layers come from
  :mod:`~cnn_tutorial.figures.network_layers` (``numpy_cnn_layers`` for the numpy CNN,
  ``torch_convnet_layers`` for a PyTorch ``ConvNet``; both importable from here too);
* :func:`computation_graph` draws the numpy CNN's forward pass as the chain of operations that
  :meth:`~cnn_tutorial.numpy_net.NumpyCNN.forward` runs, and the gradients that
  :meth:`~cnn_tutorial.numpy_net.NumpyCNN.backward` sends back along it, with their shapes.

Both return a :class:`Diagram`, which a notebook shows as inline SVG. Text and lines are drawn
in ``currentColor`` (the page's text colour, in a light and in a dark theme alike), boxes in
see-through tints, and gradients in one mid-tone orange that reads on white and on near-black,
so the diagrams need no CSS filter and keep their colours in both themes. They are at most
:data:`~.svg.WIDTH` pixels wide and scale down with the column on a phone, where their smallest
text stays about 10 pixels high.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

import numpy as np

from .. import ops
from ..numpy_net import NumpyCNN
from ..params import Instance, Integer, Optional, Rule, validate_params
from . import svg
from .network_layers import Layer

# The chapters import the layer tables from here, with the diagram they feed.
from .network_layers import _layer as _layer  # its tests look for it here
from .network_layers import numpy_cnn_layers as numpy_cnn_layers
from .network_layers import torch_convnet_layers as torch_convnet_layers
from .svg import GRADIENT_COLOR, WIDTH

__all__ = ["Diagram", "computation_graph", "network_diagram"]

#: Tints of the boxes: blue for what holds parameters, grey for the rest, seen through.
PARAMETER_FILL = "#3182bd"
PLAIN_FILL = "#969696"
_PAD = 8  # pixels from the drawing's edge to the boxes


class Diagram:
    """An SVG diagram that a notebook shows inline.

    Attributes
    ----------
    svg : str
        The ``<svg>`` element.
    alt : str
        A text alternative computed from the numbers drawn (the
        figure's ``aria-label``).
    """

    def __init__(self, svg: str, alt: str):
        self.svg, self.alt = svg, alt

    def __repr__(self) -> str:
        # What a notebook stores as text/plain: the same on every run (no
        # memory address), so the chapters' stored outputs compare exactly.
        return f"<Diagram: {self.alt}>"

    def _repr_html_(self) -> str:
        return (
            f'<figure class="cnn-tutorial-diagram" role="figure" '
            f'aria-label={quoteattr(self.alt)} style="margin: 0">'
            f"{self.svg}</figure>"
        )


# ----------------------------------------------------------------------------- the network


def _layer_list(name, layers) -> list[Layer]:
    """``layers`` as a non-empty list of :class:`Layer`."""
    layers = list(layers) if isinstance(layers, (list, tuple)) else None
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(
            f"{name} must be a non-empty list of Layer (see numpy_cnn_layers)"
        )
    return layers


@validate_params(
    layers=Rule(
        _layer_list,
        bad=[
            ([], TypeError),
            (None, TypeError),
            ([("conv", ())], TypeError),
        ],
        example=[Layer("input", (1, 28, 28))],
    ),
    title=Instance(str),
)
def network_diagram(layers, title: str = "The network") -> Diagram:
    """The layers stacked top to bottom: name, output shape, parameters.

    Parameters
    ----------
    layers : list of Layer
        From :func:`~.network_layers.numpy_cnn_layers` or
        :func:`~.network_layers.torch_convnet_layers`; the first is the
        input.
    title : str, default "The network"
        Drawn above the layers and opening the text alternative.

    Returns
    -------
    Diagram
        :data:`~.svg.WIDTH` pixels wide; its ``alt`` counts the layers and
        the parameters.
    """
    total = sum(layer.params for layer in layers)
    alt = (
        f"{title}: {len(layers) - 1} layers, {total:,} parameters; "
        f"input {_shape(layers[0].shape)}, output "
        f"{_shape(layers[-1].shape)}. "
        + "; ".join(_describe(layer) for layer in layers[1:])
        + "."
    )
    return Diagram(_network_svg(layers, title, total), alt)


def _shape(shape, batch: str = "N") -> str:
    """``(N, 8, 24, 24)``: a shape with the batch axis first, written as Python writes tuples."""
    return (
        "("
        + ", ".join([batch, *map(str, shape)])
        + ("," if not shape else "")
        + ")"
    )


def _tensors(layer: Layer) -> str:
    """``f1 8×1×5×5 + b1 8``: the arrays whose sizes add up to the count."""
    return " + ".join(
        f"{name} " + "×".join(map(str, shape))
        for name, shape in layer.tensors
    )


def _describe(layer: Layer) -> str:
    return (
        f"{layer.name} {_shape(layer.shape)}, {layer.params:,} parameters"
    )


def _count(params: int) -> str:
    return f"{params:,} parameter" + ("" if params == 1 else "s")


_ROW, _ROW_GAP, _TOP = (
    44,
    14,
    64,
)  # pixels: a layer's box, the arrow between boxes, above the first


def _network_svg(layers: list[Layer], title: str, total: int) -> str:
    right = WIDTH - _PAD - 10
    parts = [
        svg.text(
            WIDTH / 2, 22, title, anchor="middle", size=15, weight="bold"
        )
    ]
    parts += svg.swatch(_PAD, 36, PARAMETER_FILL, "with parameters")
    parts += svg.swatch(_PAD + 170, 36, PLAIN_FILL, "without")
    for i, layer in enumerate(layers):
        y = _TOP + i * (_ROW + _ROW_GAP)
        fill = PARAMETER_FILL if layer.params else PLAIN_FILL
        params = _count(layer.params) if layer.params else "no parameters"
        group = [
            svg.rect(_PAD, y, WIDTH - 2 * _PAD, _ROW, fill),
            svg.text(
                _PAD + 10,
                y + 18,
                layer.name,
                size=14,
                weight="bold",
                cls="name",
            ),
            svg.text(right, y + 18, params, anchor="end", cls="params"),
            svg.text(
                _PAD + 10,
                y + 36,
                "output " + _shape(layer.shape),
                cls="shape",
            ),
            svg.text(
                right, y + 36, _tensors(layer), anchor="end", cls="tensors"
            ),
        ]
        if i:
            group.insert(
                0, svg.arrow(WIDTH / 2, y - _ROW_GAP, WIDTH / 2, y)
            )
        parts.append('<g class="layer">' + "".join(group) + "</g>")
    bottom = _TOP + len(layers) * (_ROW + _ROW_GAP)
    parts.append(
        svg.text(
            right,
            bottom + 8,
            f"total: {_count(total)}",
            anchor="end",
            size=14,
            weight="bold",
            cls="total",
        )
    )
    return svg.document(parts, bottom + 20, title)


# ----------------------------------------------------------------------------- the graph

#: NumpyCNN.forward, one operation a line: (operation, input, parameters, output).
_FORWARD = (
    ("conv2d", "x", ("f1", "b1"), "c1"),
    ("relu", "c1", (), "r1"),
    ("conv2d", "r1", ("f2", "b2"), "c2"),
    ("relu", "c2", (), "r2"),
    ("maxpool2d", "r2", (), "pooled"),
    ("reshape", "pooled", (), "flat"),
    ("dense", "flat", ("w3", "b3"), "z3"),
    ("relu", "z3", (), "a3"),
    ("dense", "a3", ("w4", "b4"), "logits"),
    ("cross_entropy", "logits", ("labels",), "L"),
)


@validate_params(batch_size=Optional(Integer(minimum=1)))
def computation_graph(batch_size: int | None = None) -> Diagram:
    """The numpy CNN's forward pass, and its gradients flowing back.

    Parameters
    ----------
    batch_size : int, optional
        Written into the shapes; default: the symbol ``N``.

    Returns
    -------
    Diagram
        One box per operation of :meth:`NumpyCNN.forward`, top to bottom;
        every value's name and shape beside its arrow, and beside it the
        gradient ``d<value>`` (dL/d<value>) that
        :meth:`NumpyCNN.backward` sends back, dashed orange; parameters
        to the left (weights) and right (biases) of their operation, with
        their gradients' shapes.
    """
    batch = "N" if batch_size is None else str(batch_size)
    values, params, grads = _graph_shapes()
    svg = _graph_svg(values, params, grads, batch)
    return Diagram(svg, _graph_alt(values["x"], list(grads), batch))


def _graph_alt(image_shape, params: list[str], batch: str) -> str:
    steps = " → ".join(op for op, *_ in _FORWARD)
    return (
        f"Computation graph of the numpy CNN for a batch of {batch} images: "
        f"x {_shape(image_shape, batch)} → {steps} → the loss L, with parameters "
        f"{', '.join(params)}; the gradient of L flows back along every arrow, "
        "with the shape of the value it belongs to."
    )


def _graph_shapes() -> tuple[dict, dict, dict]:
    """Shapes of one forward pass's values (without the batch axis), of the parameters, and of
    the gradients :meth:`NumpyCNN.backward` returns."""
    net = NumpyCNN.initialize(seed=0)
    labels = np.zeros(1, np.int64)
    logits, cache = net.forward(np.zeros((1, 1, 28, 28), np.float32))
    grads = net.backward(ops.cross_entropy_backward(logits, labels), cache)
    cache.update(logits=logits, labels=labels)
    values = {name: cache[name].shape[1:] for _, name, *_ in _FORWARD}
    values["labels"] = labels.shape[1:]
    names = [
        name
        for _, _, params, _ in _FORWARD
        for name in params
        if name in grads
    ]
    params = {name: net.params[name].shape for name in names}
    return values, params, {name: grads[name].shape for name in names}


_OP_W, _BOX_W, _GAP_H = (
    120,
    128,
    34,
)  # pixels: operation box, parameter box, arrow between rows


def _graph_svg(values: dict, params: dict, grads: dict, batch: str) -> str:
    middle = WIDTH / 2
    parts = _graph_legend()
    y = 64
    parts.append(_node(middle, y, "x (images)"))
    y += 24
    for op, value_in, inputs, _ in _FORWARD:
        parts.append(
            _edge(
                middle,
                y,
                value_in,
                values[value_in],
                batch,
                None if value_in == "x" else values[value_in],
            )
        )
        y += _GAP_H
        height = 40 if inputs else 26
        shapes = {
            name: (params.get(name), grads.get(name)) for name in inputs
        }
        parts.append(
            _operation(
                middle, y, height, op, shapes, values["labels"], batch
            )
        )
        y += height
    parts.append(_edge(middle, y, "L", None, batch, None))
    y += _GAP_H
    parts.append(_node(middle, y, "L (mean loss)"))
    return svg.document(parts, y + 32, "The numpy CNN's computation graph")


def _graph_legend() -> list[str]:
    left, y = _PAD, 20
    return [
        svg.line(left, y - 4, left + 36, y - 4, arrow=True),
        svg.text(left + 44, y, "forward: value (shape)"),
        svg.line(
            left, y + 16, left + 36, y + 16, arrow=True, gradient=True
        ),
        svg.text(
            left + 44,
            y + 20,
            "backward: dv = dL/dv, the gradient of the loss",
            fill=GRADIENT_COLOR,
        ),
        svg.text(
            left + 44,
            y + 38,
            "with respect to v, has the shape of v",
            fill=GRADIENT_COLOR,
        ),
    ]


def _edge(
    middle: float, y: float, name: str, shape, batch: str, grad_shape
) -> str:
    """The arrows between two rows: the value down, on the left; its gradient up, on the right."""
    bottom, mid = y + _GAP_H, y + _GAP_H / 2 + 4
    value = name if shape is None else f"{name} {_shape(shape, batch)}"
    if name == "L":
        value, back = "L", "dL/dL = 1"
    else:
        back = (
            None
            if grad_shape is None
            else f"d{name} {_shape(grad_shape, batch)}"
        )
    parts = [
        svg.arrow(middle - 12, y, middle - 12, bottom),
        svg.text(middle - 20, mid, value, anchor="end", cls="value"),
    ]
    if back is None:
        parts.append(
            svg.text(
                middle + 8, mid, "(no gradient for the data)", cls="note"
            )
        )
    else:
        parts += [
            svg.arrow(middle + 12, bottom, middle + 12, y, gradient=True),
            svg.text(
                middle + 20, mid, back, fill=GRADIENT_COLOR, cls="gradient"
            ),
        ]
    return '<g class="edge">' + "".join(parts) + "</g>"


def _operation(
    middle, y, height, op, inputs: dict, labels_shape, batch
) -> str:
    """An operation's box, and beside it its parameters (weight left, bias right) or labels."""
    cy = y + height / 2
    parts = [
        svg.rect(middle - _OP_W / 2, y, _OP_W, height, PLAIN_FILL),
        svg.text(
            middle, cy + 4.5, op, anchor="middle", weight="bold", cls="name"
        ),
    ]
    for side, (name, (shape, grad_shape)) in zip((-1, 1), inputs.items()):
        near = middle + side * _OP_W / 2  # the operation box's edge
        far = (
            WIDTH - _PAD - _BOX_W if side > 0 else _PAD + _BOX_W
        )  # the parameter box's edge
        box_x = far if side > 0 else _PAD
        if name == "labels":
            parts += [
                svg.rect(box_x, cy - 12, _BOX_W, 24, PLAIN_FILL),
                svg.text(
                    box_x + 8,
                    cy + 4.5,
                    f"labels {_shape(labels_shape, batch)}",
                    cls="value",
                ),
                svg.arrow(far, cy, near, cy),
            ]
            continue
        parts += [
            svg.rect(box_x, cy - 18, _BOX_W, 36, PARAMETER_FILL),
            svg.text(box_x + 8, cy - 3, f"{name} {shape}", cls="parameter"),
            svg.text(
                box_x + 8,
                cy + 13,
                f"d{name} {grad_shape}",
                fill=GRADIENT_COLOR,
                cls="gradient",
            ),
            svg.arrow(far, cy - 6, near, cy - 6),
            svg.arrow(near, cy + 6, far, cy + 6, gradient=True),
        ]
    return '<g class="operation">' + "".join(parts) + "</g>"


def _node(middle: float, y: float, text: str) -> str:
    return (
        '<g class="node">'
        + svg.rect(middle - _OP_W / 2, y, _OP_W, 24, PLAIN_FILL)
        + svg.text(middle, y + 16.5, text, anchor="middle", cls="name")
        + "</g>"
    )
