"""The regression task: spec.py (plain Python), model.py (Keras), graph.py (TensorFlow) and
judge.py (TFMA and the report); see tasks/base.py."""
