"""Placeholder replaced below."""
def print_run_summary(config, layout, result):
    print(result)
