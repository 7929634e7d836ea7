#!/usr/bin/env python3
"""Run a suite of ablation presets and write the results table: `python run_ablations.py --help`."""

import sys

from resnet.cli.entry import sweep

if __name__ == "__main__":
    sys.exit(sweep())
