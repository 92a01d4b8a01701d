"""The Keras each library gets: import this module before anything imports TensorFlow.

Our networks are built with Keras 3 (`import keras`), which keras-tuner requires;
tf.Transform and TFMA are built on Keras 2 and reach it through `tf.keras`. Setting
TF_USE_LEGACY_KERAS=1 before TensorFlow is imported gives each library the Keras it was
written for, whichever library happens to import TensorFlow first (tf.Transform sets the
variable itself only when it is unset; TFX's own imports load TensorFlow and Keras).

Imported first, explicitly, by every entry point (the command-line tools, the tests, the
benchmarks) and by every module TFX loads by path in a component's process
(`preprocessing`, `models.trainer`, `models.tuning`, the components in
`pipeline/components/`): on Vertex AI each of those is the first of our modules to load.
"""

import functools
import importlib.metadata
import os
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ start-up chatter (CUDA probes, CPU flags) hides our own output; an
# explicit TF_CPP_MIN_LOG_LEVEL from the user still wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Google's client libraries warn on every import that Python 3.10 nears end of support;
# the pin to 3.10 is deliberate (TFX 1.16), so the warning tells the user nothing.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.api_core")
# The same check names the package in that warning from
# `importlib.metadata.packages_distributions()`, which reads the metadata of every
# installed distribution (about 250 here) and is not cached: 0.06 s per Google client
# library imported, 15 of them (0.9 s) in `vertex_runner.py compile`. The installed
# distributions do not change while a process runs, so it is read once per process.
importlib.metadata.packages_distributions = functools.cache(
    importlib.metadata.packages_distributions)
# aiplatform warns on import that it will soon need google-cloud-storage 3, which the
# pinned Beam 2.59 does not allow; nothing for a user to act on.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.cloud\.aiplatform")
