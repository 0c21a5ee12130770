"""Diagrams of the networks, drawn as SVG from the package's own numbers.

* :func:`network_diagram` stacks a network's layers top to bottom, each with its output shape
  and its parameter count, and the total; the layers come from :func:`numpy_cnn_layers` (the
  numpy CNN, measured by running its forward pass) or :func:`torch_convnet_layers` (a PyTorch
  ``ConvNet``, measured with forward hooks);
* :func:`computation_graph` draws the numpy CNN's forward pass as the chain of operations that
  :meth:`~cnn_tutorial.numpy_net.NumpyCNN.forward` runs, and the gradients that
  :meth:`~cnn_tutorial.numpy_net.NumpyCNN.backward` sends back along it, with their shapes.

Both return a :class:`Diagram`, which a notebook shows as inline SVG. Text and lines are drawn
in ``currentColor`` (the page's text colour, in a light and in a dark theme alike), boxes in
see-through tints, and gradients in one mid-tone orange that reads on white and on near-black,
so the diagrams need no CSS filter and keep their colours in both themes. They are at most
:data:`WIDTH` pixels wide and scale down with the column on a phone, where their smallest text
stays about 10 pixels high.
"""

from __future__ import annotations

import hashlib
import math
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from .. import ops
from ..checks import check_int
from ..numpy_net import NumpyCNN

__all__ = [
    "Diagram",
    "Layer",
    "computation_graph",
    "network_diagram",
    "numpy_cnn_layers",
    "torch_convnet_layers",
]

#: Width of the diagrams' drawing (and their widest on the page), in pixels. Narrower than the
#: book's 680 pixel column so that, scaled to a phone's 360 pixel column, 13 pixel text is
#: still 10 pixels high.
WIDTH = 460
#: The gradients' colour (arrows and labels): orange, 3.8:1 contrast on white, 5:1 on #111.
GRADIENT_COLOR = "#d95f02"
#: Tints of the boxes: blue for what holds parameters, grey for the rest, seen through.
PARAMETER_FILL = "#3182bd"
PLAIN_FILL = "#969696"
FILL_OPACITY = 0.2
_FONT = 13  # pixels: the smallest text
_PAD = 8  # pixels from the drawing's edge to the boxes


class Layer(NamedTuple):
    """One row of :func:`network_diagram`."""

    name: str  #: the layer's name, e.g. ``"conv 8@5×5 + ReLU"``
    shape: tuple  #: its output for one image, without the batch axis
    tensors: tuple = ()  #: its parameter arrays: (name, shape) pairs
    params: int = 0  #: number of parameters: the tensors' sizes summed


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

    def _repr_html_(self) -> str:
        return (
            f'<figure class="cnn-tutorial-diagram" role="figure" '
            f'aria-label={quoteattr(self.alt)} style="margin: 0">'
            f"{self.svg}</figure>"
        )


# ----------------------------------------------------------------------------- the layers


def numpy_cnn_layers(net: NumpyCNN | None = None) -> list[Layer]:
    """The numpy CNN's layers, measured on one image.

    Parameters
    ----------
    net : NumpyCNN, optional
        Default: ``NumpyCNN.initialize(seed=0)`` (the counts and shapes do
        not depend on the weights).

    Returns
    -------
    list of Layer
        The input, then one row per layer of the table in
        :mod:`cnn_tutorial.numpy_net`; shapes from its forward pass.
    """
    net = NumpyCNN.initialize(seed=0) if net is None else net
    if not isinstance(net, NumpyCNN):
        raise TypeError(f"net must be a NumpyCNN, got {type(net).__name__}")
    logits, out = net.forward(np.zeros((1, 1, 28, 28), np.float32))
    out.update(logits=logits, probs=ops.softmax(logits))
    rows = [
        ("input x", "x", ()),
        (_conv_name(net.params["f1"]), "r1", ("f1", "b1")),
        (_conv_name(net.params["f2"]), "r2", ("f2", "b2")),
        ("maxpool 2×2", "pooled", ()),
        ("flatten", "flat", ()),
        ("dense + ReLU", "a3", ("w3", "b3")),
        ("dense", "logits", ("w4", "b4")),
        ("softmax", "probs", ()),
    ]
    return [
        _layer(
            name, out[key].shape[1:], [(n, net.params[n]) for n in names]
        )
        for name, key, names in rows
    ]


def torch_convnet_layers(model=None) -> list[Layer]:
    """A PyTorch model's layers, measured with forward hooks on one image.

    Parameters
    ----------
    model : torch.nn.Module, optional
        Takes ``(N, 1, 28, 28)``; default: a new
        :class:`~cnn_tutorial.pytorch.model.ConvNet`.

    Returns
    -------
    list of Layer
        The input, then every module without submodules in the order the
        forward pass calls them, named by their attribute path
        (``layer1.0``); a reshape done in ``forward`` itself (the
        ConvNet's flatten) gets a row of its own.
    """
    import torch

    from ..pytorch.model import ConvNet

    model = ConvNet() if model is None else model
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module, got {type(model).__name__}"
        )
    calls = _hooked_forward(model)
    layers = [Layer("input x", (1, 28, 28))]
    for name, module, shape_in, shape_out in calls:
        if shape_in != layers[-1].shape:
            layers.append(Layer("flatten (in forward)", shape_in))
        tensors = module.named_parameters(recurse=False)
        layers.append(
            _layer(
                f"{name}: {type(module).__name__}", shape_out, list(tensors)
            )
        )
    return layers


def _conv_name(filters: np.ndarray) -> str:
    count, _, height, width = filters.shape
    return f"conv {count}@{height}×{width} + ReLU"


def _layer(name: str, shape, tensors) -> Layer:
    """A Layer from output shape ``shape`` (no batch axis) and ``(name, array)`` pairs."""
    shapes = tuple((key, tuple(value.shape)) for key, value in tensors)
    count = sum(math.prod(array_shape) for _, array_shape in shapes)
    return Layer(name, tuple(int(size) for size in shape), shapes, count)


def _hooked_forward(model) -> list[tuple]:
    """Run ``model`` on a zero image; per call of a leaf module: name, module, input and output
    shapes (without the batch axis)."""
    import torch

    calls, handles = [], []
    for name, module in model.named_modules():
        if name and not any(module.children()):

            def record(module, inputs, output, name=name):
                calls.append(
                    (
                        name,
                        module,
                        tuple(inputs[0].shape[1:]),
                        tuple(output.shape[1:]),
                    )
                )

            handles.append(module.register_forward_hook(record))
    first = next(model.parameters(), None)
    device = first.device if first is not None else "cpu"
    dtype = first.dtype if first is not None else torch.float32
    training = model.training
    model.eval()  # dropout would draw from torch's random generator
    try:
        with torch.no_grad():
            model(torch.zeros((1, 1, 28, 28), device=device, dtype=dtype))
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    return calls


# ----------------------------------------------------------------------------- the network


def network_diagram(layers, title: str = "The network") -> Diagram:
    """The layers stacked top to bottom: name, output shape, parameters.

    Parameters
    ----------
    layers : list of Layer
        From :func:`numpy_cnn_layers` or :func:`torch_convnet_layers`; the
        first is the input.
    title : str, default "The network"
        Drawn above the layers and opening the text alternative.

    Returns
    -------
    Diagram
        :data:`WIDTH` pixels wide; its ``alt`` counts the layers and the
        parameters.
    """
    layers = _check_layers(layers)
    if not isinstance(title, str):
        raise TypeError(f"title must be a str, got {type(title).__name__}")
    total = sum(layer.params for layer in layers)
    alt = (
        f"{title}: {len(layers) - 1} layers, {total:,} parameters; "
        f"input {_shape(layers[0].shape)}, output "
        f"{_shape(layers[-1].shape)}. "
        + "; ".join(_describe(layer) for layer in layers[1:])
        + "."
    )
    return Diagram(_network_svg(layers, title, total), alt)


def _check_layers(layers) -> list[Layer]:
    layers = list(layers) if isinstance(layers, (list, tuple)) else None
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError(
            "layers must be a non-empty list of Layer (see numpy_cnn_layers)"
        )
    return layers


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
        _text(WIDTH / 2, 22, title, anchor="middle", size=15, weight="bold")
    ]
    parts += _swatch(_PAD, 36, PARAMETER_FILL, "with parameters")
    parts += _swatch(_PAD + 170, 36, PLAIN_FILL, "without")
    for i, layer in enumerate(layers):
        y = _TOP + i * (_ROW + _ROW_GAP)
        fill = PARAMETER_FILL if layer.params else PLAIN_FILL
        params = _count(layer.params) if layer.params else "no parameters"
        group = [
            _rect(_PAD, y, WIDTH - 2 * _PAD, _ROW, fill),
            _text(
                _PAD + 10,
                y + 18,
                layer.name,
                size=14,
                weight="bold",
                cls="name",
            ),
            _text(right, y + 18, params, anchor="end", cls="params"),
            _text(
                _PAD + 10,
                y + 36,
                "output " + _shape(layer.shape),
                cls="shape",
            ),
            _text(
                right, y + 36, _tensors(layer), anchor="end", cls="tensors"
            ),
        ]
        if i:
            group.insert(0, _arrow(WIDTH / 2, y - _ROW_GAP, WIDTH / 2, y))
        parts.append('<g class="layer">' + "".join(group) + "</g>")
    bottom = _TOP + len(layers) * (_ROW + _ROW_GAP)
    parts.append(
        _text(
            right,
            bottom + 8,
            f"total: {_count(total)}",
            anchor="end",
            size=14,
            weight="bold",
            cls="total",
        )
    )
    return _svg(parts, bottom + 20, title)


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
    batch = "N"
    if batch_size is not None:
        batch = str(check_int("batch_size", batch_size, 1))
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
    return _svg(parts, y + 32, "The numpy CNN's computation graph")


def _graph_legend() -> list[str]:
    left, y = _PAD, 20
    return [
        _line(left, y - 4, left + 36, y - 4, arrow=True),
        _text(left + 44, y, "forward: value (shape)"),
        _line(left, y + 16, left + 36, y + 16, arrow=True, gradient=True),
        _text(
            left + 44,
            y + 20,
            "backward: dv = dL/dv, the gradient of the loss",
            fill=GRADIENT_COLOR,
        ),
        _text(
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
        _arrow(middle - 12, y, middle - 12, bottom),
        _text(middle - 20, mid, value, anchor="end", cls="value"),
    ]
    if back is None:
        parts.append(
            _text(middle + 8, mid, "(no gradient for the data)", cls="note")
        )
    else:
        parts += [
            _arrow(middle + 12, bottom, middle + 12, y, gradient=True),
            _text(
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
        _rect(middle - _OP_W / 2, y, _OP_W, height, PLAIN_FILL),
        _text(
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
                _rect(box_x, cy - 12, _BOX_W, 24, PLAIN_FILL),
                _text(
                    box_x + 8,
                    cy + 4.5,
                    f"labels {_shape(labels_shape, batch)}",
                    cls="value",
                ),
                _arrow(far, cy, near, cy),
            ]
            continue
        parts += [
            _rect(box_x, cy - 18, _BOX_W, 36, PARAMETER_FILL),
            _text(box_x + 8, cy - 3, f"{name} {shape}", cls="parameter"),
            _text(
                box_x + 8,
                cy + 13,
                f"d{name} {grad_shape}",
                fill=GRADIENT_COLOR,
                cls="gradient",
            ),
            _arrow(far, cy - 6, near, cy - 6),
            _arrow(near, cy + 6, far, cy + 6, gradient=True),
        ]
    return '<g class="operation">' + "".join(parts) + "</g>"


def _node(middle: float, y: float, text: str) -> str:
    return (
        '<g class="node">'
        + _rect(middle - _OP_W / 2, y, _OP_W, 24, PLAIN_FILL)
        + _text(middle, y + 16.5, text, anchor="middle", cls="name")
        + "</g>"
    )


# ----------------------------------------------------------------------------- SVG pieces


def _svg(parts: list[str], height: float, title: str) -> str:
    body = (
        f"<title>{escape(title)}</title>"
        '<defs><marker id="@ID@-forward" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="currentColor"/>'
        '</marker><marker id="@ID@-gradient" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" '
        f'fill="{GRADIENT_COLOR}"/></marker></defs>' + "".join(parts)
    )
    # Ids unique on a page that shows several diagrams, and the same from run to run.
    body = body.replace(
        "@ID@", "cnn-" + hashlib.sha1(body.encode()).hexdigest()[:10]
    )
    height = math.ceil(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
        f'style="max-width: {WIDTH}px; height: auto; display: block" role="img" '
        f'font-family="sans-serif" font-size="{_FONT}">{body}</svg>'
    )


def _text(
    x,
    y,
    text,
    anchor="start",
    size=_FONT,
    weight=None,
    fill="currentColor",
    cls=None,
) -> str:
    attributes = f'x="{x:g}" y="{y:g}" fill="{fill}"'
    if anchor != "start":
        attributes += f' text-anchor="{anchor}"'
    if size != _FONT:
        attributes += f' font-size="{size}"'
    if weight:
        attributes += f' font-weight="{weight}"'
    if cls:
        attributes += f' class="{cls}"'
    return f"<text {attributes}>{escape(text)}</text>"


def _rect(x, y, width, height, fill) -> str:
    return (
        f'<rect x="{x:g}" y="{y:g}" width="{width:g}" height="{height:g}" rx="6" '
        f'fill="{fill}" fill-opacity="{FILL_OPACITY}" stroke="currentColor" '
        'stroke-opacity="0.6"/>'
    )


def _line(x1, y1, x2, y2, arrow=False, gradient=False) -> str:
    color = GRADIENT_COLOR if gradient else "currentColor"
    dash = ' stroke-dasharray="5 3"' if gradient else ""
    marker = (
        f' marker-end="url(#@ID@-{"gradient" if gradient else "forward"})"'
        if arrow
        else ""
    )
    return (
        f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{color}" '
        f'stroke-width="1.5"{dash}{marker}/>'
    )


def _arrow(x1, y1, x2, y2, gradient=False) -> str:
    return _line(x1, y1, x2, y2, arrow=True, gradient=gradient)


def _swatch(x: float, y: float, fill: str, label: str) -> list[str]:
    return [
        f'<rect x="{x:g}" y="{y:g}" width="22" height="14" rx="3" fill="{fill}" '
        f'fill-opacity="{FILL_OPACITY}" stroke="currentColor" stroke-opacity="0.6"/>',
        _text(x + 30, y + 11.5, label),
    ]
