"""What produced a table's numbers: the dataset and whether its files were the official ones, the code,
versions, devices and precision of the runs, and a warning when the arms differ in any of them."""

from __future__ import annotations

from resnet.config import DATASETS
from resnet.errors import UserError
from resnet.plan import Plan
from resnet.presets import load_suite
from resnet.report.collect import Collected


def files_official(data: dict) -> bool | None:
    verdict = data.get("files_match_official_md5")
    return verdict if isinstance(verdict, bool) else None  # an edited file says nothing


def _verdicts(collected: Collected) -> dict[str, list[bool | None]]:
    """Each dataset the arms trained on -> each of its runs' md5 verdict on the files."""
    datasets = {cell.arm.config.dataset for cell in collected.arms} or {"cifar10"}
    runs = [r for c in collected.arms for r in c.runs]
    return {
        name: [files_official(r.record.get("data", {})) for r in runs if r.config.dataset == name]
        for name in sorted(datasets)
    }


def _overall(verdicts: list[bool | None]) -> bool | None:
    """False when any run's files differed, True when all were verified, None when unknown."""
    return False if False in verdicts else True if set(verdicts) == {True} else None


def official_files(collected: Collected) -> dict[str, bool | None]:
    """Each dataset the arms trained on -> whether its files matched the official md5 (_overall; None for
    synthetic data)."""
    return {name: _overall(verdicts) for name, verdicts in _verdicts(collected).items()}


def dataset_words(plan: Plan, collected: Collected) -> str:
    words = []
    for name, runs in _verdicts(collected).items():
        if name == "synthetic":
            words.append("synthetic data (generated for smoke runs: these numbers say nothing about CIFAR)")
            continue
        official, differ = _overall(runs), runs.count(False)
        if official is None:
            verdict = ""
        elif official:
            verdict = " (official files, md5 verified)"
        elif differ == len(runs):
            verdict = " (files differ from the official release: md5)"
        else:
            verdict = (
                f" (the files of {differ} of {len(runs)} runs differ from the official release: md5; the "
                "CSV's data.official_files says which)"
            )
        words.append(DATASETS[name].title + verdict)
    return ", ".join(words)


def _code_version(git: object, release: object) -> str:
    info = git if isinstance(git, dict) else {}  # an edited file says nothing
    commit = info.get("commit")
    if isinstance(commit, str) and commit:
        return commit[:10] + (" (uncommitted changes)" if info.get("dirty") else "")
    return f"none (resnet-ablations {release} installed)" if isinstance(release, str) else "unknown"


def provenance(collected: Collected) -> list[str]:
    """What produced the numbers, and a warning when the arms disagree on it. Each value carries the group
    within which it must agree: one git commit for the table, one copy of the files per dataset, one
    validation split per (dataset, size, seed), one precision per amp setting (an arm that sets amp,
    as a bf16-against-fp32 design does, differs in precision by its config) -- arms that differ in those
    by config are not mixed."""
    keys = ("git", "torch", "CUDA", "device", "precision", "data files", "validation split")
    seen: dict[str, set[tuple[str, str]]] = {key: set() for key in keys}
    for cell in collected.arms:
        for run in cell.completed:
            data = run.record.get("data", {})
            amp = "" if run.config.amp is None else f"amp={run.config.amp}"  # None: the device chose
            for env, runtime in run.sessions():  # a resumed run may have moved
                seen["git"].add(("", _code_version(env.get("git"), env.get("resnet_ablations"))))
                seen["torch"].add(("", str(env.get("torch"))))
                seen["CUDA"].add(("", str(env.get("cuda") or "none")))
                # runs recorded before 2026-11-26 say "1 threads": the same device
                seen["device"].add(("", str(env.get("device")).replace(" 1 threads)", " 1 thread)")))
                bf16 = runtime.get("amp_bf16")
                if isinstance(bf16, bool):
                    fp32 = "fp32 (TF32 convolutions)" if runtime.get("tf32_convs") else "fp32"
                    seen["precision"].add((amp, "bf16 autocast" if bf16 else fp32))
            if data.get("files_sha256"):
                dataset = str(data.get("dataset"))
                seen["data files"].add((dataset, f"{dataset} {data['files_sha256']}"))
            if data.get("val_indices_sha256"):
                group = f"{data.get('dataset')}/{data.get('val_size')}/{data.get('val_split_seed')}"
                seen["validation split"].add((group, str(data["val_indices_sha256"])))
    if not seen["git"]:
        return ["Provenance: no completed run yet."]
    shown = {key: sorted({value for _, value in pairs}) for key, pairs in seen.items() if pairs}
    lines = ["Provenance: " + "; ".join(f"{key} {', '.join(values)}" for key, values in shown.items()) + "."]
    mixed = [key for key, pairs in seen.items() if len(pairs) > len({group for group, _ in pairs})]
    if mixed:
        lines.append(
            f"⚠ Mixed provenance: the arms' runs (or a resumed run's sessions) differ in {', '.join(mixed)}; "
            "differences between arms may come from that."
        )
    return lines


def suite_file_warnings(plan: Plan) -> list[str]:
    """A suite file edited (or removed) since the plan read it, as a sweep's file can be while it runs: the
    table is of the plan, what trained under the names the presets had then, which the file no longer
    says (a later --report reads the file as it is by then, and tables its runs as other configurations)."""
    path = plan.suite.path
    try:
        now = load_suite(path)
    except UserError as exc:
        return [f"⚠ The suite file {path} cannot be read now ({exc}): this table is of the sweep's plan."]
    if now == plan.suite:
        return []
    return [
        f"⚠ The suite file {path} changed while this sweep ran: this table is of the sweep's plan (what "
        "trained, under the names its presets had then); `run_ablations.py --report` tables the suite as "
        "it is now."
    ]


def provenance_warnings(footer: list[str]) -> list[str]:
    """The footer's warnings (mixed provenance), which the Markdown's header and the terminal repeat."""
    return [line for line in footer if line.startswith("⚠")]
