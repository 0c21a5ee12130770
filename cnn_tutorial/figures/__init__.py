"""The book's figures: every number drawn comes from the package, and tests check each figure
draws exactly its arrays.

* :mod:`~cnn_tutorial.figures.display`: figures into notebooks and the built book, offline
  (:func:`show`, re-exported here);
* :mod:`~cnn_tutorial.figures.source`: the package's source as a chapter shows it
  (:func:`show_source`, re-exported here);
* :mod:`~cnn_tutorial.figures.plots`: the training plot;
* :mod:`~cnn_tutorial.figures.pictures`: grids of images;
* :mod:`~cnn_tutorial.figures.diagrams`: SVG diagrams of the network and its computation graph,
  from the layer tables of :mod:`~cnn_tutorial.figures.network_layers`, drawn with
  :mod:`~cnn_tutorial.figures.svg`;
* explorers a reader drives in the page: :mod:`~cnn_tutorial.figures.explorers` (convolution,
  :mod:`~cnn_tutorial.figures.conv_explorer`, and max pooling,
  :mod:`~cnn_tutorial.figures.pool_explorer`), :mod:`~cnn_tutorial.figures.backward_explorer`,
  :mod:`~cnn_tutorial.figures.receptive_field` (the rule it draws:
  :mod:`~cnn_tutorial.figures.field_rule`), all built from the shared parts of
  :mod:`~cnn_tutorial.figures.explorer_parts`; and :mod:`~cnn_tutorial.figures.what_it_sees`.
"""

from .display import show
from .source import show_source

__all__ = ["show", "show_source"]
