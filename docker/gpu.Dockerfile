# The Vertex AI Training image for GPU machines (trainer_accelerator_type/count set).
# CUDA and cuDNN come as pinned pip wheels (tensorflow[and-cuda]); the machine brings only
# the NVIDIA driver. Build from the repository root with scripts/build-images.
FROM python:3.10.13-slim-bookworm

# Keras 2 for tf.Transform and TFMA, Keras 3 for our models (see pipeline/keras_choice.py).
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /pipeline
# The CPU lock's versions plus the CUDA wheels, without the test tools.
COPY requirements-gpu.lock ./
RUN pip install --no-deps -r requirements-gpu.lock

# The code TFX loads by module path (preprocessing.preprocessing_fn, models.trainer.run_fn).
COPY pyproject.toml variants.yaml preprocessing.py local_runner.py vertex_runner.py ./
COPY pipeline/ pipeline/
COPY models/ models/
COPY evaluation/ evaluation/
COPY tasks/ tasks/
COPY schemas/ schemas/
RUN pip install --no-deps -e .
