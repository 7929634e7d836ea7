"""What runs inside a sweep's training processes, forked from a warm interpreter.

A sweep starts one multiprocessing forkserver that imports this module (and so torch, the training
core and torch._dynamo, which torch.optim imports on first use): 5-6 s once per sweep instead of once
per run. Each run is then a fork of it that runs exactly `train_cifar.py ARGS` (resnet.cli.train) with
its output in the run's train.log, as the leader of its own process group (signals go to the group; the
terminal's Ctrl-C and Ctrl-Z reach only the sweep, which passes them on), and with a parent-death
signal, so that it checkpoints and stops when the sweep dies, however the sweep dies. The group stays in
the sweep's session: should the sweep die while it had stopped the run (Ctrl-Z), the group is orphaned
with a stopped member, and the kernel continues it and hangs it up (POSIX), so it still checkpoints and
stops rather than stay stopped for good.

The forkserver only imports: no CUDA call, no thread pool, so its forks start clean (the supported
way to use CUDA in child processes).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback
from pathlib import Path

import torch
import torch._dynamo  # noqa: F401  (imported here once rather than by every run's first optimizer)
import torch.utils.tensorboard  # noqa: F401

import resnet.cli.train
import resnet.train  # noqa: F401
from resnet.config import TrainConfig
from resnet.errors import UserError
from resnet.launch import die_with_parent


def _release_forkserver() -> None:
    """A fork of the forkserver inherits the write ends that keep the forkserver and multiprocessing's
    resource tracker alive; holding them, a run would keep its own parent alive after the sweep died."""
    from multiprocessing import forkserver, resource_tracker

    for owner, attribute in (
        (forkserver._forkserver, "_forkserver_alive_fd"),
        (resource_tracker._resource_tracker, "_fd"),
    ):
        fd = getattr(owner, attribute, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
            setattr(owner, attribute, None)


def _detach(log_path: Path, env: dict[str, str]) -> None:
    os.setpgid(0, 0)
    _release_forkserver()
    die_with_parent()
    if os.getppid() == 1:  # the forkserver (and so the sweep) died before we could ask
        os._exit(1)
    os.environ.update(env)
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    for target in (1, 2):
        os.dup2(fd, target)
    os.close(fd)
    sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), line_buffering=True, errors="replace")  # noqa: SIM115
    sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), line_buffering=True, errors="replace")  # noqa: SIM115
    sys.stdin = open(os.devnull)  # noqa: SIM115  (the process's stdin from now on)


def train(arguments: list[str], log_path: str, env: dict[str, str]) -> None:
    """A run of the sweep: train_cifar.py's main with `arguments`; the exit status is the CLI's."""
    _detach(Path(log_path), env)
    sys.argv = ["train_cifar.py", *arguments]
    resnet.cli.train.in_a_sweep = True  # a second stop signal is its sweep's to act on
    code = resnet.cli.train.main(arguments)
    sys.stdout.flush()
    sys.stderr.flush()
    raise SystemExit(code)


def pilot(
    configs: list[dict], device: str, threads: int, log_path: str, result_path: str, env: dict[str, str]
) -> None:
    """First each dataset the configs read, downloaded and decoded once here (so a missing dataset is one
    line now, not one failed run after another); then one forward + backward + SGD step of each config at
    its batch size on `device`, with random data. Writes {"data": error or "", "device": error or "",
    index: error or ""} to result_path. torch.compile is not exercised (it takes minutes on a CPU); its C++
    compiler on a CPU is (resnet.runtime.check_cpp_compiler)."""
    import json

    from resnet.files import write_json

    _detach(Path(log_path), env)
    parsed = [TrainConfig.from_dict(data) for data in configs]
    results = {"data": _dataset_error(parsed), "device": ""}
    if not results["data"]:
        results["device"] = _device_error(device)
    if not results["data"] and not results["device"]:
        results.update(_steps(parsed, device, threads))
    write_json(result_path, results)
    print(json.dumps(results), flush=True)


def _dataset_error(configs: list[TrainConfig]) -> str:
    from resnet.data import load_cifar
    from resnet.errors import UserError

    for dataset, data_dir in sorted({(c.dataset, c.data_dir) for c in configs if c.dataset != "synthetic"}):
        try:
            load_cifar(dataset, Path(data_dir))
        except UserError as exc:
            return str(exc)
    return ""


def _device_error(device: str) -> str:
    """The device is missing (a GPU the driver does not show): not any config's fault."""
    from resnet.errors import DeviceError
    from resnet.runtime import check_device

    try:
        check_device(device)
    except DeviceError as exc:
        return str(exc)
    return ""


def _steps(configs: list[TrainConfig], device: str, threads: int) -> dict[str, str]:
    from resnet.models import create_model
    from resnet.runtime import Runtime

    results = {}
    for index, config in enumerate(configs):
        try:
            runtime = Runtime.resolve(config, device, threads)
            model = runtime.place(create_model(config.model, config.num_classes, config.norm, config.dropout))
            optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
            images = torch.randn(config.batch_size, 3, 32, 32, device=runtime.device)
            labels = torch.randint(0, config.num_classes, (config.batch_size,), device=runtime.device)
            with runtime.autocast():
                loss = torch.nn.functional.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
            runtime.synchronize()
            results[str(index)] = ""
            del model, optimizer, images, labels, loss
        except UserError as exc:  # its message says what to do (--compile without a C++ compiler)
            results[str(index)] = str(exc)
        except Exception as exc:
            traceback.print_exc()
            error = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            fix = "fix the config (a smaller batch_size or model) or pass --no-pilot to skip this check"
            results[str(index)] = f"{error}; {fix}"
        if runtime_is_cuda(device):
            torch.cuda.empty_cache()
    return results


def runtime_is_cuda(device: str) -> bool:
    return device.startswith("cuda") and torch.cuda.is_available()
