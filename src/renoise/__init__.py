"""renoise: two denoising autoencoders trained iteratively on salt-and-pepper MNIST.

The library behind the notebook suite: data and noise, models and their training, metrics and
t-SNE, classical baselines, run directories and the experiment runner.
"""

import os

#: Environment for TensorFlow, here and in every notebook kernel: no C++ start-up chatter over the
#: progress a user wants to see, and no oneDNN kernels, whose float reordering varies run to run.
TF_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
for _name, _value in TF_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
