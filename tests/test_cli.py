"""The command lines themselves: model listing speed, verbosity, entry points, packaging, damaged files."""

import errno
import os
import re
import resource
import subprocess
import sys
import textwrap
import time
import tomllib
from importlib import metadata

import pytest

from resnet import presets, run_spec
from resnet.cli.common import main_wrapper
from resnet.models.table import MODEL_STATS
from tests.conftest import ROOT, stop_handlers_kept, sweep_main, train_main


def test_list_models_answers_in_under_a_second_with_exact_counts():
    """It reads the table of counts and never imports torch (seconds to import, more to build the zoo); the
    time is the best of three starts, so that a loaded machine's one slow start does not fail it."""
    command = [sys.executable, str(ROOT / "train_cifar.py"), "--list-models"]
    elapsed = []
    for _ in range(3):
        start = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        elapsed.append(time.monotonic() - start)
    assert result.returncode == 0 and min(elapsed) < 1.0, elapsed
    assert "11,173,962" in result.stdout and "resnext29_16x64d" in result.stdout
    assert f"{MODEL_STATS['wrn28_10'][1] / 1e6:,.1f}" in result.stdout
    verbose = {**os.environ, "PYTHONVERBOSE": "1"}  # each import on stderr
    imports = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=verbose)
    assert imports.returncode == 0 and "import 'torch'" not in imports.stderr, imports.stderr[-2000:]


def test_quiet_and_verbose(tmp_path):
    """-q: warnings only; -v: how the run executes (device, threads, precision), its data and each
    checkpoint too, which a sweep's -v passes on to every run's train.log."""
    args = ["--model", "resnet8", "--dataset", "synthetic", "--batch-size", "64", "--epochs", "1"]
    code, out, err = train_main(*args, "--run-dir", tmp_path / "run", "-q")
    assert code == 0 and out == "" and "notice: dataset 'synthetic'" in err  # warnings still show
    code, out, _ = train_main(*args, "--run-dir", tmp_path / "run")
    assert code == 0 and "already holds this finished run" in out
    assert "run: defaults and --model, --dataset, --epochs, --batch-size (config " in out  # what it trains
    assert "runtime: cpu" not in out
    code, out, _ = train_main(*args, "--run-dir", tmp_path / "verbose", "-v", "--no-amp")
    assert code == 0 and "runtime: cpu (" in out and "bf16 autocast off, channels-last memory format" in out
    assert "data: synthetic, 1,024 training, 0 validation and 256 test images (" in out
    assert f"checkpoint: epoch 1 + 0 steps -> {tmp_path / 'verbose' / 'checkpoint.pt'} (" in out


def test_a_terminal_without_utf8_gets_question_marks_not_a_traceback():
    """--list prints '—' and '×'; a Latin-1 or ASCII terminal cannot show them."""
    for encoding in ("ascii", "latin-1"):
        result = subprocess.run(
            [sys.executable, str(ROOT / "run_ablations.py"), "--list"],
            capture_output=True,
            env={**os.environ, "PYTHONIOENCODING": encoding},
            timeout=60,
        )
        assert result.returncode == 0 and b"Traceback" not in result.stderr, result.stderr
        assert b"baseline" in result.stdout and b"?" in result.stdout


def test_console_scripts_are_declared():
    scripts = {
        e.name: e.value
        for e in metadata.entry_points(group="console_scripts")
        if e.name.startswith("resnet-")
    }
    assert scripts == {"resnet-ablations": "resnet.cli.entry:sweep", "resnet-train": "resnet.cli.entry:train"}


def test_a_wheel_ships_every_package_and_the_suites():
    """A wheel (pip install ., not -e) has no checkout: each package must be listed, configs/ mapped in."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = {".".join(p.relative_to(ROOT).parent.parts) for p in (ROOT / "resnet").rglob("__init__.py")}
    assert set(setuptools["packages"]) == packages | {"resnet.configs"}
    assert (ROOT / setuptools["package-dir"]["resnet.configs"]).resolve() == presets.CONFIGS_DIR
    assert setuptools["package-data"]["resnet.configs"] == ["*.toml"]
    assert {p.name for p in presets.CONFIGS_DIR.glob("*.toml")} >= {"ablations.toml", "quick.toml"}


def test_without_the_root_scripts_a_run_starts_as_a_module(monkeypatch, tmp_path):
    monkeypatch.setattr(run_spec, "TRAIN_SCRIPT", tmp_path / "train_cifar.py")  # as in a wheel install
    command = run_spec.train_command()
    assert command == [sys.executable, "-m", "resnet.cli.train"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([*command, "--list-models"], cwd=tmp_path, env=env, capture_output=True)
    assert result.returncode == 0 and b"resnext29_16x64d" in result.stdout, result.stderr


def test_the_commit_recorded_is_of_the_repository_that_tracks_this_code(tmp_path):
    """Vendored into a larger repository, its commit is this code's; installed in a venv inside a user's
    repository (untracked), that repository's HEAD is not ours. Uncommitted changes count in our subtree."""
    from resnet.versions import git_commit

    repo = tmp_path / "project"
    vendored, site_packages = repo / "tools" / "ablations", repo / ".venv" / "site-packages"
    for root in (vendored, site_packages):
        (root / "resnet").mkdir(parents=True)
        (root / "resnet" / "__init__.py").write_text("")
    (repo / "notes.txt").write_text("a")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "tools", "notes.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], check=True)
    assert git_commit(vendored)["commit"] is not None and git_commit(vendored)["dirty"] is False
    assert git_commit(site_packages) == {"commit": None, "dirty": None}
    (repo / "notes.txt").write_text("b")  # a change elsewhere in the repository is not a change of ours
    assert git_commit(vendored)["dirty"] is False
    (vendored / "resnet" / "__init__.py").write_text("x = 1")
    assert git_commit(vendored)["dirty"] is True


def test_version_is_the_line_a_bug_report_needs():
    pattern = r"resnet-ablations \S+ \((git [0-9a-f]{10}( with uncommitted changes)?|no git checkout)\), "
    pattern += r"torch \d\S*, torchvision \d\S*, Python 3\.\d+\.\d+\n"
    for main in (sweep_main, train_main):
        code, out, err = main("--version")
        assert code == 0 and re.fullmatch(pattern, out) and err == "", out


def test_windows_gets_one_line_not_an_import_traceback(monkeypatch, capsys):
    from resnet.cli import entry

    monkeypatch.setattr(sys, "platform", "win32")
    assert entry.sweep() == 2 and entry.train() == 2
    message = "error: resnet-ablations runs on Linux and macOS; on Windows, use WSL2\n"
    assert capsys.readouterr().err == message * 2


def test_a_command_run_in_a_deleted_directory_is_one_line(tmp_path):
    """`rm -rf` of the directory a shell sits in, then a command there: os.getcwd() fails in the first
    relative path (a traceback from presets.py or pathlib)."""
    gone = tmp_path / "gone"
    gone.mkdir()
    for script, args in (("run_ablations.py", "--suite quick --config baseline"), ("train_cifar.py", "")):
        out = subprocess.run(
            ["bash", "-c", f'cd "{gone}" && rmdir "{gone}" && "{sys.executable}" "{ROOT / script}" {args}'],
            capture_output=True,
            text=True,
        )
        assert out.returncode == 2 and out.stdout == "", out.stderr
        assert out.stderr == (
            "error: the current directory no longer exists (deleted or moved); cd into one that does and "
            "run the command again\n"
        )
        gone.mkdir()


def test_ctrl_c_while_the_command_still_imports_is_the_usual_one_line(monkeypatch, capsys):
    import importlib

    from resnet.cli import entry

    def interrupted_import(name):
        assert name in ("resnet.cli.train", "resnet.cli.sweep")
        raise KeyboardInterrupt  # as a Ctrl-C in a command's first half second lands, mid-import

    monkeypatch.setattr(importlib, "import_module", interrupted_import)
    with stop_handlers_kept():
        assert entry.train() == 130 and entry.sweep() == 130
    assert capsys.readouterr().err == "\ninterrupted\n" * 2


def test_sigterm_while_the_command_still_imports_is_the_same_one_line():
    """Before the command sets its own handlers, SIGTERM (and a hang-up) end it as Ctrl-C does; by default
    Python dies of it silently (status 143). A Python that stays in its imports stands in for torch's
    (hanging there: a second signal ends it at once)."""
    slow = "import sys, time; sys.argv = ['run_ablations.py']; from resnet.cli import entry; "
    slow += "import importlib; importlib.import_module = lambda name: print('importing', flush=True) or "
    slow += "time.sleep(30); sys.exit(entry.sweep())"
    command = subprocess.Popen(
        [sys.executable, "-c", slow], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert command.stdout.readline() == "importing\n"
    command.terminate()  # held until the imports are done (test_a_stop_signal_during_imports_is_held...)
    with pytest.raises(subprocess.TimeoutExpired):
        command.wait(timeout=0.5)
    command.terminate()  # again: an import that hangs must not hold the command for good
    _, err = command.communicate(timeout=30)
    assert command.returncode == 130 and err == "\ninterrupted\n", err


def test_a_damaged_run_file_in_a_planned_run_is_one_line(tmp_path, suite_file, monkeypatch):
    run_dir = tmp_path / "runs" / "tiny" / "base" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_bytes(b"\x89\xff binary \x00")
    code, _, err = sweep_main(
        "--suite-file",
        suite_file,
        "--config",
        "base",
        "--runs-dir",
        tmp_path / "runs",
        "--results-dir",
        tmp_path / "results",
        "--no-pilot",
    )
    assert code == 2 and err.count("\n") == 1
    assert (
        f"{run_dir / 'config.json'} cannot be read ({run_dir / 'config.json'} is not UTF-8 text); move" in err
    )

    # another user's run on a shared runs dir (simulated: the tests run as root, whom nothing refuses)
    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("resnet.run_dir.load_json", refused)
    code, _, err = sweep_main("--suite-file", suite_file, "--config", "base", "--runs-dir", tmp_path / "runs")
    assert code == 2 and err == (
        f"error: {run_dir / 'config.json'} cannot be read (permission denied); give this user read access to "
        f"{run_dir}, or move it away\n"
    )


def test_ctrl_c_while_the_report_is_written_is_one_line_and_no_half_file(tmp_path, suite_file, monkeypatch):
    import resnet.report

    def interrupted(plan, results_dir, interval):
        (results_dir / "tiny.md").write_text("# an earlier table\n")
        raise KeyboardInterrupt("SIGINT")  # what the signal handler raises mid-write

    monkeypatch.setattr(resnet.report, "write_report", interrupted)
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    code, out, err = sweep_main(
        "--suite-file", suite_file, "--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results",
        "--report", "--config", "base",
    )  # fmt: skip
    assert code == 130 and "results:" not in out
    assert err == "interrupted while writing the report; `run_ablations.py --report` writes it again\n"
    assert (tmp_path / "results" / "tiny.md").read_text() == "# an earlier table\n"


def test_a_stop_signal_during_imports_is_held_until_they_are_done():
    """A KeyboardInterrupt raised inside a C extension's import can come out as an ImportError that torch
    swallows (it then trains on without numpy); the signal waits for the imports, then stops the command."""
    result = in_a_command(
        "with stop_signals_held():\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    time.sleep(0.2)  # the imports go on\n"
        "    print('imported', flush=True)\n"
        "print('trained', flush=True)\n"
    )
    assert (result.stdout, result.stderr, result.returncode) == ("imported\n", "\ninterrupted\n", 130)


def test_one_stop_signal_delivered_twice_counts_once_and_a_second_request_still_counts():
    """`timeout` signals its command and then its process group; a closed terminal's SIGHUP comes from the
    shell and again from the kernel. Taken as two, they stopped the runs at once, with no checkpoint. The
    same signal within 0.1 s of the last one taken is dropped, as it arrives (held or not); a later one, or
    another signal, is a request of its own, and two requests while imports hold them both go through."""
    script = (
        "import os, signal, sys, time\n"
        "from resnet.cli.stop_signals import on_stop_signals, stop_signals_held\n"
        "on_stop_signals(lambda signum: print(signal.Signals(signum).name, flush=True))\n"
        "def send(sig, wait):\n"
        "    os.kill(os.getpid(), sig)\n"
        "    time.sleep(wait)\n"
        "send(signal.SIGTERM, 0)  # its handler runs as os.kill returns, before the next line\n"
        "send(signal.SIGTERM, 0.2)  # a repeat: dropped\n"
        "send(signal.SIGTERM, 0)  # a second request\n"
        "send(signal.SIGINT, 0.2)  # another signal\n"
        "print('held', flush=True)\n"
        "with stop_signals_held():\n"
        "    send(signal.SIGTERM, 0)\n"
        "    send(signal.SIGTERM, 0.2)  # a repeat, dropped as it arrives\n"
        "    print('imported', flush=True)\n"
        "    send(signal.SIGTERM, 0)  # a second request: both go through now\n"
        "    print('import went on', flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines() == [
        "SIGTERM", "SIGTERM", "SIGINT", "held", "imported", "SIGTERM", "SIGTERM", "import went on"
    ]  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_ctrl_c_after_the_work_is_done_ends_the_process_without_a_traceback():
    # the signal arrives during interpreter shutdown (an atexit handler stands in for the forkserver's)
    result = in_a_command(
        "print('done', flush=True)\n",
        before="atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(2)))\n",
    )
    assert result.stdout == "done\n" and result.stderr == ""
    assert result.returncode == -2  # ended by the signal itself, as a shell expects of Ctrl-C


def in_a_command(body: str, before: str = "") -> subprocess.CompletedProcess:
    """`body` inside a command's main as both CLIs run it (main_wrapper; Ctrl-C, SIGTERM and SIGHUP raise
    KeyboardInterrupt), in a Python of its own: signal handlers are the whole process's."""
    script = (
        "import atexit, os, signal, sys, time\n"
        "from resnet.cli.common import main_wrapper\n"
        "from resnet.cli.stop_signals import on_stop_signals, raise_interrupt, stop_signals_held\n"
        f"{before}"
        "def main(argv):\n"
        "    on_stop_signals(raise_interrupt)\n"
        f"{textwrap.indent(body, '    ')}"
        "    return 0\n"
        "sys.exit(main_wrapper(main))\n"
    )
    command = [sys.executable, "-c", script]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_report_from_a_mistyped_runs_dir_leaves_the_table_alone(tmp_path, suite_file):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "tiny.md").write_text("# the table\n")
    code, out, err = sweep_main(
        "--suite-file", suite_file, "--runs-dir", tmp_path / "runz", "--results-dir", tmp_path / "results",
        "--report",
    )  # fmt: skip
    assert code == 2 and out == ""
    runz = tmp_path / "runz"
    assert err == f"error: no runs of suite 'tiny' under {runz} (no {runz / 'tiny'}); check --runs-dir\n"
    assert (tmp_path / "results" / "tiny.md").read_text() == "# the table\n"


def test_a_full_disk_while_the_report_is_written_is_one_line_naming_where(tmp_path, suite_file, monkeypatch):
    import errno

    import resnet.files

    real = resnet.files.write_synced
    results = tmp_path / "results"

    def full_disk(path, data):
        if results in path.parents:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    monkeypatch.setattr(resnet.files, "write_synced", full_disk)
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    code, out, err = sweep_main(
        "--suite-file", suite_file, "--runs-dir", tmp_path / "runs", "--results-dir", results, "--report",
    )  # fmt: skip
    assert code == 2 and out == ""
    where = results / "tiny.md"  # the file being written, not its temp name
    assert err.startswith(f"error: cannot write the report: no space left on device ({where}); fix that")
    assert "the same command with --report writes it, training nothing" in err and err.count("\n") == 1
    assert [p.name for p in results.iterdir()] == []  # no temp file left behind


def test_report_tables_the_recorded_sweep_and_says_when_it_cannot(tmp_path, suite_file):
    from resnet.designs import parse_design
    from resnet.plan import Selection
    from resnet.presets import load_suite
    from resnet.sweep_record import record_sweep, recorded_sweep

    suite, runs = load_suite(suite_file), tmp_path / "runs"
    report = ["--report", "--suite-file", suite_file, "--runs-dir", runs, "--results-dir", tmp_path / "out"]
    record_sweep(runs, suite, Selection(("cosine",), None, (), (0, 1)))
    code, _, err = sweep_main(*report)
    table = (tmp_path / "out" / "tiny.md").read_text()
    assert code == 0 and err == "" and "| cosine |" in table and "| base |" not in table  # as recorded
    # a design's factors keep the order they were given in, which names the arms and their run dirs:
    # recorded as a JSON object they came back sorted, and `--report` named every arm otherwise
    grid = parse_design({"factors": {"lr": [0.05, 0.1], "epochs": [1, 2], "cutout": [0, 8]}}, "--grid")
    record_sweep(runs, suite, Selection(design=grid, overrides=(("epochs", 1),)))
    assert recorded_sweep(runs, "tiny").selection == Selection(design=grid, overrides=(("epochs", 1),))
    record = runs / "tiny" / "sweep.json"
    for content, why in (
        (b"\xff\xfe", "is not UTF-8 text"),
        (b'{"suite_file": 5, "selection": {}}', "it is not a sweep record this version can read"),
        (b'{"selection": {"seeds": ["a"]}}', "it is not a sweep record this version can read"),
        (b'{"selection": {"overrides": {"seed": 3}}}', "it is not a sweep record this version can read"),
    ):
        record.write_bytes(content)
        assert why in recorded_sweep(runs, "tiny").problem
    record.write_bytes(b'{"selection": {"presets": ["gone"]}}')  # the suite lost that preset since
    code, _, err = sweep_main(*report)
    assert code == 0 and err.count("\n") == 1 and "it no longer fits the suite: unknown preset 'gone'" in err
    assert err.startswith(f"notice: {record} cannot be used (") and "tabling every preset" in err
    assert "| base |" in (tmp_path / "out" / "tiny.md").read_text()  # every preset instead
    record.write_bytes(b'{"suite_file": 5, "selection": {}}')  # --report without --suite: no suite file
    code, _, err = sweep_main("--report", "--runs-dir", runs, "--results-dir", tmp_path / "all")
    assert code == 2 and err.count("\n") == 1 and f"error: {runs / 'tiny'}: unknown suite 'tiny'" in err


def test_a_sweep_started_with_its_standard_streams_closed_runs_and_writes_its_table(tmp_path, suite_file):
    """`run_ablations.py ... >&- 2>&- <&-` (some daemons start commands so): Python leaves sys.stdout None,
    which ended the sweep in a traceback before anything trained; now the output goes to /dev/null."""
    runs, results = tmp_path / "runs", tmp_path / "results"
    command = (
        f"{sys.executable} run_ablations.py --suite-file {suite_file} --config base --no-pilot "
        f"--runs-dir {runs} --results-dir {results} >&- 2>&- <&-"
    )
    assert subprocess.run(command, shell=True, cwd=ROOT, timeout=120).returncode == 0
    assert (results / "tiny.md").exists() and (runs / "tiny" / "base" / "seed0" / "summary.json").exists()
    log = (runs / "tiny" / "base" / "seed0" / "train.log").read_text()
    assert "completed: test acc" in log  # the run's own output still goes to its log


def test_a_sweep_record_that_cannot_be_written_is_one_line_before_anything_trains(tmp_path, suite_file):
    """runs/<suite>/sweep.json is written first; a runs dir on a full disk (or the name taken by a
    directory, as here) ended the sweep in a traceback."""
    runs = tmp_path / "runs"
    (runs / "tiny" / "sweep.json").mkdir(parents=True)
    code, _, err = sweep_main(
        "--suite-file", suite_file, "--config", "base", "--runs-dir", runs, "--results-dir", tmp_path / "out"
    )  # fmt: skip
    assert code == 2 and err == (
        f"error: cannot write the sweep record: is a directory, not a file ({runs / 'tiny' / 'sweep.json'}); "
        "fix that (or choose another --runs-dir) and run the same command again\n"
    )
    assert not (runs / "tiny" / "base").exists()  # nothing trained


def test_output_to_a_full_disk_stops_the_output_not_the_sweep(tmp_path, suite_file):
    """`run_ablations.py ... > sweep.log` on a disk that fills up (here /dev/full: every write is ENOSPC):
    the first log line raised, the sweep ended in a traceback and wrote no table. Now the output stops,
    stderr says so once, and the sweep trains and writes its table."""
    runs, results = tmp_path / "runs", tmp_path / "results"
    command = (
        f"{sys.executable} run_ablations.py --suite-file {suite_file} --config base --no-pilot "
        f"--runs-dir {runs} --results-dir {results} > /dev/full"
    )
    done = subprocess.run(command, shell=True, cwd=ROOT, timeout=120, capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("warning: output to /dev/full stopped: no space left on device") == 1
    assert (results / "tiny.md").exists() and (runs / "tiny" / "base" / "seed0" / "summary.json").exists()


def test_a_path_too_long_for_the_file_system_is_one_line(tmp_path):
    """A name over 255 bytes made every later exists() raise ENAMETOOLONG: a traceback before anything ran."""
    code, out, err = sweep_main("--all", "--dry-run", "--runs-dir", tmp_path / ("a" * 300))
    assert code == 2 and err.count("\n") == 1
    assert (
        "--runs-dir: a name in the path is 300 bytes (aaaaaaaaaaaaaaaaaaaaaaaa...); file systems allow 255"
        in err
    )
    code, out, err = train_main("--run-dir", "x/" * 2000, "--epochs", "1")
    assert code == 2 and "--run-dir: the path is" in err and "keep it under 3,500" in err


def test_too_many_open_files_is_one_line_saying_how_to_raise_the_limit(capsys):
    """`ulimit -n` set low (or a machine's limit, many runs at once): EMFILE wherever it strikes, in the
    forkserver's pipe or a log file, ends the command in one line, not a traceback."""

    def opens_one_file_too_many(argv):
        raise OSError(errno.EMFILE, "Too many open files")

    with pytest.raises(SystemExit) as exit_:
        main_wrapper(opens_one_file_too_many)
    err = capsys.readouterr().err
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert f"error: too many open files (this shell allows {soft}): raise the limit, e.g. `ulimit -n" in err

    def fails_otherwise(argv):
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):  # any other OSError is no user's doing: it stays a traceback to report
        main_wrapper(fails_otherwise)


def test_a_dependency_that_cannot_be_imported_is_one_line(tmp_path):
    """torch's libraries fail to load under a low `ulimit -v` ('failed to map segment'), and a broken or
    partial install fails alike: one line saying so, not a traceback from deep inside torch."""
    broken = tmp_path / "site" / "torch"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        "raise ImportError('libtorch_cpu.so: failed to map segment from shared object', name='torch._C')\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{ROOT}"}
    result = subprocess.run(
        [sys.executable, ROOT / "train_cifar.py", "--dataset", "synthetic", "--run-dir", tmp_path / "run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: cannot import torch._C (libtorch_cpu.so: failed to map segment")
    assert "pip install -e ." in result.stderr and "ulimit -v" in result.stderr
    sweep = subprocess.run(  # the sweep imports no torch itself: its pilot's process meets it first
        [sys.executable, ROOT / "run_ablations.py", "--suite", "quick", "--config", "baseline"]
        + ["--runs-dir", tmp_path / "runs", "--results-dir", tmp_path / "results"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert sweep.returncode == 2 and sweep.stderr.count("\n") == 1, sweep.stderr
    assert "pilot step crashed on cpu (exit 1: ImportError: libtorch_cpu.so" in sweep.stderr
    assert sweep.stderr.rstrip().endswith("(ulimit -v)") and not (tmp_path / "runs/quick/baseline").exists()

    def our_own_bug(argv):
        raise ImportError("cannot import name 'x' from 'resnet.data'", name="resnet.data")

    with pytest.raises(ImportError):  # a bug of ours stays a traceback to report
        main_wrapper(our_own_bug)
