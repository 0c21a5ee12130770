"""The PyTorch side of the book. Imported module by module, so that the numpy path works without
torch installed:

* :mod:`~cnn_tutorial.pytorch.model`: the ConvNet;
* :mod:`~cnn_tutorial.pytorch.data`: MNIST as tensors, the same splits as the numpy side;
* :mod:`~cnn_tutorial.pytorch.training`: the plain training loop, evaluation, ``train_torch``;
* :mod:`~cnn_tutorial.pytorch.run`: what is wrapped around it: loaders, model, one process or a group;
* :mod:`~cnn_tutorial.pytorch.checkpoints`: saving and loading weights and training state;
* :mod:`~cnn_tutorial.pytorch.distributed` and :mod:`~cnn_tutorial.pytorch.first_steps`: training on
  several processes under ``torchrun``;
* :mod:`~cnn_tutorial.pytorch.twin`: the numpy CNN rebuilt in PyTorch, trained side by side;
* :mod:`~cnn_tutorial.pytorch.numpy_convnet`: the trained ConvNet's weights in the numpy ops.
"""
