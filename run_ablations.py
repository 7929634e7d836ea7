#!/usr/bin/env python3
"""Run a suite of ablation presets and write the results table: `python run_ablations.py --help`."""

import sys

from resnet.cli.sweep import main

if __name__ == "__main__":
    sys.exit(main())
