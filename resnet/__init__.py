"""resnet-ablations: ablation studies of ResNets on CIFAR, from presets to a results table.

Modules: config (TrainConfig), presets (suites of named overrides), models (the zoo), data (CIFAR on
the device), train (the training core), runner (local sweeps), slurm (cluster sweeps), report (tables
and plots). Importing the package does not import torch.
"""

__version__ = "0.1.0"
