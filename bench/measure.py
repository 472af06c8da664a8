"""The peak memory of one process on its own, for the benchmarks.

Python's wait4 cannot measure it: a child forked from a Python process counts the parent's
pages too (a `--version` launched from a 64 MB Python shows 77 MB). GNU time forks from a
small process and reports the command's own peak RSS (`apt-get install time`).
"""
import os
import sys

GNU_TIME = "/usr/bin/time"


def timed_command(command, report):
    """`command` run under GNU time, which writes its peak RSS in KiB to the file `report`."""
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit("GNU time is needed to measure each process's own memory: apt-get install time")
    return [GNU_TIME, "-f", "%M", "-o", report, *command]


def peak_kib(report):
    """The peak RSS that `timed_command` recorded, in KiB."""
    return int(open(report).read().strip().splitlines()[-1])
