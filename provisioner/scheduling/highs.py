"""A silent HiGHS instance (highspy), for the configuration LP and its pricing."""

from __future__ import annotations

import os
import sys

import highspy

_BANNER_SHOWN = False


def silent_highs() -> highspy.Highs:
    """The first Highs() in a process prints a banner to the C-level stdout before any option
    applies, which would corrupt `simulate --output json`: that one is made with stdout
    pointed at /dev/null."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
            h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h
