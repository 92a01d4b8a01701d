"""Network architectures (chosen by name from `registry`), the input feeder and `run_fn`."""
