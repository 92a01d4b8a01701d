"""Run as `python -m tests.warm_probe ARGS` by tests/test_processes.py: prints, as JSON,
what the process was started with, and exits with $PROBE_EXIT."""

import json
import os
import sys
import time


def main() -> int:
    marker = sys.modules.get("tests.warm_marker")
    print(json.dumps({"argv": sys.argv[1:], "probe": os.environ.get("PROBE"),
                      "home": "HOME" in os.environ, "cwd": os.getcwd(), "name": __name__,
                      "marker_pid": getattr(marker, "PID", None), "pid": os.getpid()}),
          flush=True)
    print("to stderr", file=sys.stderr, flush=True)
    time.sleep(float(os.environ.get("PROBE_SLEEP", "0")))
    return int(os.environ.get("PROBE_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
