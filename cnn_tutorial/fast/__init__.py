"""Making numpy fast (the "Going further" chapter of the same name): faster routes behind
:mod:`cnn_tutorial.ops`' API and the machinery around training.

* :mod:`~cnn_tutorial.fast.conv`: the convolution's routes (wide-row im2col, cache-sized chunks) and
  the choice between them;
* :mod:`~cnn_tutorial.fast.fourier`: convolution through the Fourier transform;
* :mod:`~cnn_tutorial.fast.memory`: freed memory kept for reuse;
* :mod:`~cnn_tutorial.fast.parallel`: gradient worker processes sharing each batch.
"""
