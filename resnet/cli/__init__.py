"""The command lines: `train_cifar.py` / `resnet-train` (resnet.cli.train) and `run_ablations.py` /
`resnet-ablations` (resnet.cli.sweep), both started through resnet.cli.entry. Torch is imported only
when needed, so listing and dry runs answer instantly."""
