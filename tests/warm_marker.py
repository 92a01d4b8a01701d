"""Imported by the fork server in tests/test_processes.py: records the process that
imported it."""

import os

PID = os.getpid()
