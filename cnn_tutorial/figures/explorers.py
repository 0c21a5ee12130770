"""Figures a reader can drive in the static book: Bokeh widgets and hover tools that need no kernel.

The forward chapters' two explorers, one import for both:

* :func:`convolution_explorer` (:mod:`~cnn_tutorial.figures.conv_explorer`): a slider moves a
  filter over an image and fills in the output and the im2col matrix;
* :func:`maxpool_explorer` (:mod:`~cnn_tutorial.figures.pool_explorer`): max pooling forward and
  backward; hovering an output cell traces its window, its winner and its gradient.

Every number is computed in numpy by the package's own functions, once, and shipped to the browser
in the figure's data sources; the small ``CustomJS`` callbacks only pick entries out of them, so
what the reader sees cannot disagree with the package the tests check. Show the figures with
:func:`cnn_tutorial.figures.display.show`. Their look, shared with the other explorers, is
:mod:`~cnn_tutorial.figures.explorer_parts`.
"""

from .conv_explorer import convolution_explorer
from .pool_explorer import maxpool_explorer

__all__ = ["convolution_explorer", "maxpool_explorer"]
