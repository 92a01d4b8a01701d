"""The networks, one module each with `build(shapes, settings)`; models/registry.py finds
them by their file names."""
