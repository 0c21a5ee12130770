"""The diagrams draw the package's own numbers, parse as SVG, and read in both themes."""

import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from cnn_tutorial import ops
from cnn_tutorial.figures import diagrams, network_layers, svg
from cnn_tutorial.figures.diagrams import (
    GRADIENT_COLOR,
    Layer,
    computation_graph,
    network_diagram,
    numpy_cnn_layers,
    torch_convnet_layers,
)
from cnn_tutorial.numpy_net import PARAM_SHAPES, NumpyCNN

SVG = "{http://www.w3.org/2000/svg}"


def parse(diagram) -> ET.Element:
    return ET.fromstring(diagram.svg)


def texts(element, cls) -> list[str]:
    return [text.text for text in element.iter(f"{SVG}text") if text.get("class") == cls]


def groups(root, cls) -> list[ET.Element]:
    return [group for group in root.iter(f"{SVG}g") if group.get("class") == cls]


def shape_of(text: str, batch: str = "N") -> tuple:
    """``(N, 8, 24, 24)`` -> ``(8, 24, 24)``; checks that the batch axis comes first."""
    inside = re.search(r"\((.*)\)", text).group(1)
    sizes = [size.strip() for size in inside.split(",") if size.strip()]
    assert sizes[0] == batch
    return tuple(int(size) for size in sizes[1:])


def tensors_of(text: str) -> dict:
    """``f1 8×1×5×5 + b1 8`` -> ``{"f1": (8, 1, 5, 5), "b1": (8,)}``."""
    pairs = [part.split(" ") for part in text.split(" + ")] if text else []
    return {name: tuple(int(size) for size in sizes.split("×")) for name, sizes in pairs}


def count_of(text: str) -> int:
    return 0 if text == "no parameters" else int(text.split(" ")[0].replace(",", ""))


def drawn_layers(diagram) -> list[Layer]:
    """Read the layers back from the SVG's text."""
    rows = []
    for group in groups(parse(diagram), "layer"):
        (name,), (shape,), (params,), (tensors,) = (
            texts(group, cls) for cls in ("name", "shape", "params", "tensors")
        )
        tensors = tensors_of(tensors or "")
        rows.append(Layer(name, shape_of(shape), tuple(tensors.items()), count_of(params)))
    return rows


@pytest.fixture(scope="module")
def numpy_forward():
    net = NumpyCNN.initialize(seed=0)
    x = np.random.default_rng(1).standard_normal((1, 1, 28, 28)).astype(np.float32)
    logits, cache = net.forward(x)
    return net, logits, cache


# ----------------------------------------------------------------------------- the layers


def test_numpy_layers_are_the_forward_pass_and_the_parameters(numpy_forward):
    net, logits, cache = numpy_forward
    layers = numpy_cnn_layers()
    outputs = [
        cache["x"],
        cache["r1"],
        cache["r2"],
        cache["pooled"],
        cache["flat"],
        cache["a3"],
        logits,
        ops.softmax(logits),
    ]
    assert [layer.shape for layer in layers] == [out.shape[1:] for out in outputs]
    assert [name for layer in layers for name, _ in layer.tensors] == list(PARAM_SHAPES)
    for layer in layers:
        assert layer.params == sum(net.params[name].size for name, _ in layer.tensors)
        assert dict(layer.tensors) == {name: net.params[name].shape for name, _ in layer.tensors}
    total = sum(p.size for p in net.params.values())
    assert sum(layer.params for layer in layers) == total == 105_634
    assert layers[1].name == "conv 8@5×5 + ReLU"


def test_numpy_layers_of_a_given_net_and_a_bad_one(numpy_forward):
    net, *_ = numpy_forward
    assert numpy_cnn_layers(net) == numpy_cnn_layers()
    with pytest.raises(TypeError, match="net must be a NumpyCNN"):
        numpy_cnn_layers("net")


@pytest.mark.parametrize("relu_between_fc", [False, True])
def test_torch_layers_are_each_modules_output_and_parameters(relu_between_fc):
    torch = pytest.importorskip("torch")
    from cnn_tutorial.pytorch.model import ConvNet

    torch.manual_seed(0)
    model = ConvNet(relu_between_fc=relu_between_fc)
    state = torch.get_rng_state()
    layers = torch_convnet_layers(model)
    assert torch.equal(torch.get_rng_state(), state)  # dropout drew nothing
    assert model.training  # the mode is given back
    # The forward pass, module by module, as ConvNet.forward writes it.
    modules = [
        *model.layer1,
        *model.layer2,
        "flatten",
        model.drop_out,
        model.fc1,
        model.fc_activation,
        model.fc2,
    ]
    out, expected = torch.zeros(1, 1, 28, 28), [Layer("input x", (1, 28, 28))]
    with torch.no_grad():
        for module in modules:
            out = out.flatten(start_dim=1) if module == "flatten" else module(out)
            params = [] if module == "flatten" else list(module.parameters())
            expected.append((tuple(out.shape[1:]), sum(p.numel() for p in params)))
    assert [(layer.shape, layer.params) for layer in layers[1:]] == expected[1:]
    assert layers[0] == expected[0]
    assert sum(layer.params for layer in layers) == sum(p.numel() for p in model.parameters())
    assert [layer.name for layer in layers][7:9] == ["flatten (in forward)", "drop_out: Dropout"]
    activation = "ReLU" if relu_between_fc else "Identity"
    assert layers[-2].name == f"fc_activation: {activation}"
    assert layers[-1].tensors == (("weight", (10, 1000)), ("bias", (10,)))


def test_torch_layers_default_model_and_bad_model():
    pytest.importorskip("torch")
    assert sum(layer.params for layer in torch_convnet_layers()) == 3_199_106
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        torch_convnet_layers("model")


# ----------------------------------------------------------------------------- the network


def test_network_diagram_draws_exactly_the_layers():
    layers = numpy_cnn_layers()
    diagram = network_diagram(layers, title="The numpy CNN")
    assert drawn_layers(diagram) == layers
    assert texts(parse(diagram), "total") == ["total: 105,634 parameters"]
    assert diagram.alt.startswith(
        "The numpy CNN: 7 layers, 105,634 parameters; input (N, 1, 28, 28)"
    )


def test_network_diagram_of_the_torch_convnet_draws_its_numbers():
    pytest.importorskip("torch")
    layers = torch_convnet_layers()
    diagram = network_diagram(layers, title="The PyTorch ConvNet")
    assert drawn_layers(diagram) == layers
    assert texts(parse(diagram), "total") == ["total: 3,199,106 parameters"]
    assert "11 layers, 3,199,106 parameters" in diagram.alt


def test_network_diagram_bad_inputs():
    for layers in ([], None, [("conv", (8, 24, 24))]):
        with pytest.raises(TypeError, match="layers must be a non-empty list of Layer"):
            network_diagram(layers)
    with pytest.raises(TypeError, match="title must be a str"):
        network_diagram(numpy_cnn_layers(), title=3)


# ----------------------------------------------------------------------------- the graph


def backward_chain(net, cache, dlogits) -> dict:
    """The gradient of every value, by the ops NumpyCNN.backward calls, one by one."""
    p, c = net.params, cache
    grads = {"logits": dlogits}
    grads["a3"] = ops.dense_backward(dlogits, c["a3"], p["w4"])[0]
    grads["z3"] = ops.relu_backward(grads["a3"], c["z3"])
    grads["flat"] = ops.dense_backward(grads["z3"], c["flat"], p["w3"])[0]
    grads["pooled"] = grads["flat"].reshape(c["pooled"].shape)
    grads["r2"] = ops.maxpool2d_backward(grads["pooled"], c["r2"], 2, 2)
    grads["c2"] = ops.relu_backward(grads["r2"], c["c2"])
    grads["r1"] = ops.conv2d_backward(grads["c2"], c["r1"], p["f2"])[0]
    grads["c1"] = ops.relu_backward(grads["r1"], c["c1"])
    return grads


def named_shapes(element, cls: str, batch: str | None) -> dict:
    """``{"dc1": (32, 8, 24, 24), ...}`` from texts ``name (shape)``; batch axis included."""
    found = {}
    for text in texts(element, cls):
        match = re.fullmatch(r"(\w+) \((.*)\)", text)
        if match:
            sizes = [size for size in match.group(2).split(", ") if size.strip(",")]
            sizes = [size.strip(",") for size in sizes]
            found[match.group(1)] = tuple(size if size == batch else int(size) for size in sizes)
    return found


@pytest.mark.parametrize("batch_size", [32, None])
def test_computation_graph_draws_backwards_gradients_with_their_shapes(batch_size):
    n = batch_size or 4
    batch = "N" if batch_size is None else None
    net = NumpyCNN.initialize(seed=0)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((n, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, n)
    logits, cache = net.forward(x)
    dlogits = ops.cross_entropy_backward(logits, labels)
    param_grads = net.backward(dlogits, cache)
    value_grads = backward_chain(net, cache, dlogits)
    cache["logits"] = logits

    root = parse(computation_graph(batch_size))
    drawn_grads = named_shapes(root, "gradient", batch)
    drawn_values = named_shapes(root, "value", batch)
    drawn_params = named_shapes(root, "parameter", batch)

    def expected(shape):  # the batch axis written as N when no batch size is given
        return (batch, *shape[1:]) if batch else shape

    assert {k: v for k, v in drawn_grads.items() if k[1:] in PARAM_SHAPES} == {
        f"d{name}": grad.shape for name, grad in param_grads.items()
    }
    assert drawn_params == {name: value.shape for name, value in net.params.items()}
    assert {k[1:]: v for k, v in drawn_grads.items() if k[1:] not in PARAM_SHAPES} == {
        name: expected(grad.shape) for name, grad in value_grads.items()
    }
    values = ["x", "c1", "r1", "c2", "r2", "pooled", "flat", "z3", "a3", "logits"]
    assert drawn_values == {name: expected(cache[name].shape) for name in values} | {
        "labels": expected(labels.shape)
    }
    assert texts(root, "note") == ["(no gradient for the data)"]  # backward skips dx
    assert texts(root, "name") == [
        "x (images)",
        "conv2d",
        "relu",
        "conv2d",
        "relu",
        "maxpool2d",
        "reshape",
        "dense",
        "relu",
        "dense",
        "cross_entropy",
        "L (mean loss)",
    ]


def test_computation_graph_arrows_forward_solid_gradients_dashed_orange():
    root = parse(computation_graph())
    lines = list(root.iter(f"{SVG}line"))
    backward = [line for line in lines if line.get("stroke") == GRADIENT_COLOR]
    forward = [line for line in lines if line.get("stroke") == "currentColor"]
    assert len(backward) + len(forward) == len(lines)
    assert all(line.get("stroke-dasharray") for line in backward)
    assert not any(line.get("stroke-dasharray") for line in forward)
    # Gradients of the 10 values after x, of L itself, of the 8 parameters; plus the legend's.
    assert len(backward) == 10 + 8 + 1
    assert all(line.get("marker-end", "").endswith("-gradient)") for line in backward)
    up = [line for line in backward if line.get("x1") == line.get("x2")]
    assert all(float(line.get("y1")) > float(line.get("y2")) for line in up)  # gradients go up


def test_computation_graph_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        computation_graph(0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        computation_graph(2.5)


# ----------------------------------------------------------------------------- themes and widths


def all_diagrams():
    made = [
        network_diagram(numpy_cnn_layers(), "The numpy CNN"),
        computation_graph(),
        computation_graph(32),
    ]
    try:
        made.append(network_diagram(torch_convnet_layers(), "The PyTorch ConvNet"))
    except ImportError:
        pass
    return made


@pytest.mark.parametrize("diagram", all_diagrams(), ids=lambda d: d.alt[:20])
def test_colours_read_on_a_light_and_a_dark_page(diagram):
    root = parse(diagram)
    data_colours = {GRADIENT_COLOR, diagrams.PARAMETER_FILL, diagrams.PLAIN_FILL}
    assert "color" not in root.attrib and "filter" not in diagram.svg
    assert not re.search(r"black|white|#000\b|#000000|#fff\b|#ffffff|rgb", diagram.svg, re.I)
    for element in root.iter():
        tag = element.tag.removeprefix(SVG)
        fill, stroke = element.get("fill"), element.get("stroke")
        if tag == "text":
            assert fill in ("currentColor", GRADIENT_COLOR)
        if tag == "line":
            assert stroke in ("currentColor", GRADIENT_COLOR)
        if tag == "rect":  # see-through tints, outlined in the text colour
            assert fill in data_colours and float(element.get("fill-opacity")) <= 0.25
            assert stroke == "currentColor"
        if tag == "path":  # arrowheads
            assert fill in ("currentColor", GRADIENT_COLOR)


@pytest.mark.parametrize("diagram", all_diagrams(), ids=lambda d: d.alt[:20])
def test_fits_the_column_and_has_a_text_alternative(diagram):
    root = parse(diagram)
    _, _, width, height = map(float, root.get("viewBox").split())
    assert width == diagrams.WIDTH <= 680 and height > 0
    assert root.get("width") == "100%" and f"max-width: {diagrams.WIDTH}px" in root.get("style")
    smallest = min(
        float(text.get("font-size", root.get("font-size"))) for text in root.iter(f"{SVG}text")
    )
    assert smallest * 358 / width >= 10  # pixels, in a phone's 358 pixel column
    figure = ET.fromstring(diagram._repr_html_())
    assert figure.tag == "figure" and figure.get("role") == "figure"
    assert figure.get("aria-label") == diagram.alt and figure.get("class") == "cnn-tutorial-diagram"
    assert figure[0].tag == f"{SVG}svg"


def test_same_diagram_same_svg_and_distinct_ids_on_one_page():
    first, second = computation_graph(), network_diagram(numpy_cnn_layers())
    assert computation_graph().svg == first.svg
    ids = [set(re.findall(r'id="([^"]+)"', d.svg)) for d in (first, second)]
    assert ids[0] and not ids[0] & ids[1]


def test_layer_counts_add_up():
    layer = diagrams._layer("dense", (10,), [("w", np.zeros((10, 128))), ("b", np.zeros(10))])
    assert layer == Layer("dense", (10,), (("w", (10, 128)), ("b", (10,))), 1290)
    assert math.prod((10, 128)) + 10 == layer.params


# ----------------------------------------------------------------------------- as drawn

# Every text's box in page pixels, and the pixels per unit of the drawing.
_BOXES_JS = """() => [...document.querySelectorAll('svg')].map(svg => {
  const frame = svg.getBoundingClientRect();
  return {frame: [frame.left, frame.right], scale: frame.width / svg.viewBox.baseVal.width,
          texts: [...svg.querySelectorAll('text')].map(t => {
            const r = t.getBoundingClientRect();
            return [r.left, r.top, r.right, r.bottom, t.textContent,
                    parseFloat(getComputedStyle(t).fontSize)];
          })};
})"""


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 700])
def test_text_fits_and_does_not_overlap_as_drawn(browser, width):
    html = "".join(d._repr_html_() for d in all_diagrams())
    page = browser.new_page(viewport={"width": width, "height": 800})
    try:
        page.set_content(f'<body style="margin: 0; padding: 16px">{html}</body>')
        for svg in page.evaluate(_BOXES_JS):
            left, right = svg["frame"]
            assert right <= width - 16 + 0.5
            for x0, _y0, x1, _y1, text, size in svg["texts"]:
                assert left - 0.5 <= x0 and x1 <= right + 0.5, text
                assert size * svg["scale"] >= 9.9, text
            boxes = svg["texts"]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    overlap_x = min(a[2], b[2]) - max(a[0], b[0])
                    overlap_y = min(a[3], b[3]) - max(a[1], b[1])
                    assert overlap_x <= 0.5 or overlap_y <= 0.5, (a[4], b[4])
    finally:
        page.close()


def test_the_chapters_import_the_layer_tables_and_constants_from_diagrams():
    for name in network_layers.__all__:
        assert getattr(diagrams, name) is getattr(network_layers, name)
    assert (diagrams.WIDTH, diagrams.GRADIENT_COLOR) == (svg.WIDTH, svg.GRADIENT_COLOR)


def test_a_diagram_prints_the_same_on_every_run():
    """A notebook stores ``repr`` as the output's text/plain: no memory address in it."""
    diagram = network_diagram(numpy_cnn_layers())
    assert repr(diagram) == f"<Diagram: {diagram.alt}>" and " at 0x" not in repr(diagram)
