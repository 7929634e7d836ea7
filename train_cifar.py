#!/usr/bin/env python3
"""Train one ResNet on CIFAR: `python train_cifar.py --help`. The logic lives in resnet/."""

import sys

from resnet.cli.entry import train

if __name__ == "__main__":
    sys.exit(train())
