# The image every pipeline step runs in on Vertex AI Pipelines, and the image of Vertex AI
# Training on CPU and of Dataflow workers. Build from the repository root with
# scripts/build-images, which tags it with the URI the compiled pipeline names.
#
# Beam's SDK image brings Python 3.10 and the boot entrypoint Dataflow workers start with;
# Vertex AI Pipelines and Training call `python -m ...` themselves and ignore it.
FROM apache/beam_python3.10_sdk:2.59.0

# Keras 2 for tf.Transform and TFMA, Keras 3 for our models: the same choice as
# pipeline/keras_choice.py, set here too for anything that imports TensorFlow first.
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /pipeline
# Exactly the tested set: every package pinned in the lock, nothing resolved at build time.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# The code TFX loads by module path (preprocessing.preprocessing_fn, models.trainer.run_fn).
COPY pyproject.toml variants.yaml preprocessing.py local_runner.py vertex_runner.py ./
COPY pipeline/ pipeline/
COPY models/ models/
COPY evaluation/ evaluation/
COPY tasks/ tasks/
COPY schemas/ schemas/
RUN pip install --no-deps -e .
