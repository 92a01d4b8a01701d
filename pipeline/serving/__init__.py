"""Serving: the model server the sandbox starts, the sandbox component, and what it
measures."""
