"""resnet-ablations: ablation studies of ResNets on CIFAR, from presets to a results table.

The data flow, one concept per module: config (TrainConfig and its identity) -> designs, presets (suites)
-> plan (arms, run dirs, the command a run gets) -> runner (local sweeps: slots, launch, child, pilot,
display) | slurm (cluster sweeps) | train (the core: components, schedule, evaluate, checkpoint, summary,
run_dir, progress, data, loader, seeding) -> report (tables and figures, with stats). Shared by all:
errors (the one user-error class), states (run states, exit codes), files (project root, atomic writes,
strict JSON). Importing the package does not import torch.
"""

__version__ = "0.2.0"
