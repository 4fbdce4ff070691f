"""The first hour of a new user: the README, ``make lab``, flag errors, the demo's folder, environment.yml.

Flag errors and the demo run the real ``stabmon`` command (its ``main``, or
a subprocess where the exit status and the whole stderr matter); ``make lab``
starts the real JupyterLab through the Makefile, checks where it listens and
what it prints, and stops it by PID.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import psutil
import pytest
import yaml

from stabmon.cli.main import main
from stabmon.demo.week import run_demo_week

ROOT = Path(__file__).resolve().parents[2]
STABMON = [sys.executable, "-m", "stabmon.cli.main"]
#: A short demo (two snapshots, one day): the folder tests need a run, not a week.
SHORT = ["--no-report", "--duration", "1", "--interval", "30"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STABMON, *args], capture_output=True, text=True, timeout=300)


def usage_error(capsys, *argv: str) -> str:
    """The one stderr line of an argparse error of ``stabmon ARGV`` (which exits 1)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


# --------------------------------------------------------------------------- flag errors (§5.3: usage errors exit 1)


@pytest.mark.parametrize("argv, line", [
    (["report", "--inpt", "DIR"],
     "stabmon: error: unrecognized arguments: --inpt (did you mean --input?) (see stabmon report --help)"),
    (["demo", "--outptu", "x"],
     "stabmon: error: unrecognized arguments: --outptu (did you mean --output?) (see stabmon demo --help)"),
    (["demo", "-output", "x"],  # a dash short: not -o with the value "utput"
     "stabmon: error: unrecognized arguments: -output (did you mean --output?) (see stabmon demo --help)"),
    (["analyze", "--input", "x", "--nope"],
     "stabmon: error: unrecognized arguments: --nope (see stabmon analyze --help)"),
    (["demo", "--jbos", "2", "--sed=3"],
     "stabmon: error: unrecognized arguments: --jbos (did you mean --jobs?), --sed (did you mean --seed?) "
     "(see stabmon demo --help)"),
    (["reprot", "--input", "x"], "stabmon: error: unknown command 'reprot' (did you mean report?) (see stabmon --help)"),
    (["--verbsoe", "demo"],
     "stabmon: error: unrecognized arguments: --verbsoe (did you mean --verbose?) (see stabmon --help)"),
    (["analyze", "--input", "x", "extra"], "stabmon: error: unrecognized arguments: extra (see stabmon analyze --help)"),
])
def test_a_mistyped_flag_or_command_is_named_with_the_closest_one(capsys, argv, line):
    assert usage_error(capsys, *argv) == line


def test_what_argparse_accepts_is_not_called_unknown(capsys):
    # --out is a unique prefix of --output, -j4 a short flag with its value, -3 a negative number (a value)
    assert usage_error(capsys, "report", "--inp", "/nonexistent", "-j4", "--timeout", "-3").endswith(
        "argument --timeout: must be a positive number, got '-3' (see stabmon report --help)")
    # an ambiguous prefix is argparse's own error, naming the candidates
    assert "ambiguous option: --s could match --scenario, --seed" in usage_error(capsys, "demo", "--s", "x")


def test_a_missing_required_flag_is_still_reported_when_no_flag_is_mistyped(capsys):
    assert usage_error(capsys, "report") == (
        "stabmon: error: the following arguments are required: --input/-i (see stabmon report --help)")


# --------------------------------------------------------------------------- the demo's folder


def _tree(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != ".stabmon.lock"}


def test_a_new_demo_replaces_an_earlier_one_and_its_stale_reports(tmp_path: Path):
    out = tmp_path / "demo"
    run_demo_week(out, fsync=False)  # an earlier demo: a week, seven days
    (out / "reports").mkdir()
    (out / "reports" / "weekly_summary.html").write_text("<html>last week's report</html>")
    (out / "reports" / "retrospective_files").mkdir()
    (out / "reports" / "retrospective_files" / "retrospective_3_0.png").write_bytes(b"\x89PNG")
    (out / "release_comparison.md").write_text("stale")
    (out / "notes.txt").write_text("mine")  # not a run file: kept
    proc = run("demo", *SHORT, "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    tree = _tree(out)
    assert not any(name.startswith("reports") for name in tree), tree
    assert "release_comparison.md" not in tree
    assert sorted(n for n in tree if n.startswith("day_")) == [
        "day_01_raw", *sorted(n for n in tree if n.startswith("day_01_raw/")), "day_01_summary.json",
        "day_latency.json"]  # the new week's day quantiles, not a stale file
    assert len([n for n in tree if n.startswith("day_01_raw/snapshot_")]) == 2
    assert (out / "notes.txt").read_text() == "mine"
    assert json.loads((out / "run.json").read_text())["window"]["duration_hours"] == 1


def _real_run(folder: Path) -> None:
    """A run folder as ``stabmon monitor`` leaves it: its run.json names Prometheus, not the demo."""
    run_demo_week(folder, fsync=False, duration_hours=2, interval_minutes=30)  # four snapshots
    info = json.loads((folder / "run.json").read_text())
    info["source"] = "prometheus"
    (folder / "run.json").write_text(json.dumps(info))


def test_a_demo_refuses_a_folder_that_holds_another_run_unless_forced(tmp_path: Path):
    out = tmp_path / "checkout-v1.4"
    _real_run(out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = run("demo", *SHORT, "--output", str(out))
    assert proc.returncode == 1
    assert proc.stderr == (f"stabmon: error: --output {out} holds a run of checkout (source prometheus, window "
                           "from 2026-01-05T00:00:00Z), which a demo would replace: choose another folder or add "
                           "--force\n")
    assert proc.stdout == ""
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # untouched

    forced = run("demo", *SHORT, "--output", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert json.loads((out / "run.json").read_text())["source"] == "synthetic:incident:seed=42"
    assert len(list(out.glob("day_01_raw/snapshot_*.json"))) == 2  # the demo's two; the run's last two are gone


def test_a_demo_refuses_a_folder_of_other_files_unless_forced(tmp_path: Path):
    out = tmp_path / "home"
    out.mkdir()
    (out / "baseline.json").write_text('{"mine": true}')
    proc = run("demo", *SHORT, "--output", str(out))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert f"--output {out} is not empty (baseline.json) and holds no earlier demo" in proc.stderr
    assert (out / "baseline.json").read_text() == '{"mine": true}'
    assert run("demo", *SHORT, "--output", str(out), "--force").returncode == 0


def test_a_demo_writes_into_a_new_or_empty_folder(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (empty, tmp_path / "new" / "nested"):
        proc = run("demo", *SHORT, "--output", str(folder))
        assert proc.returncode == 0, proc.stderr
        assert (folder / "weekly_summary.json").is_file()


# --------------------------------------------------------------------------- make lab


def _lab_command(env: dict[str, str]) -> str:
    return subprocess.run(["make", "-s", "-n", "-o", "install-dev", "lab"], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=60, check=True).stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_lab_flags_follow_the_user():
    command = _lab_command(dict(os.environ))
    assert "--ServerApp.ip=127.0.0.1" in command
    assert ("--allow-root" in command) == (os.getuid() == 0)


@pytest.mark.skipif(shutil.which("make") is None or not (ROOT / ".venv/bin/jupyter").exists(),
                    reason="make or the project's .venv not there")
def test_make_lab_listens_on_loopback_and_prints_the_url(tmp_path: Path):
    from support.servers import free_port

    port = free_port()
    # Under `make test` the outer make's MAKELEVEL/MAKEFLAGS would make this one print "Entering directory" first.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env.update(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
               JUPYTER_DATA_DIR=str(tmp_path / "data"))
    log = tmp_path / "lab.log"
    with open(log, "w") as sink:
        make = subprocess.Popen(["make", "--no-print-directory", "-o", "install-dev", "lab", f"LAB_PORT={port}"],
                                cwd=ROOT, env=env,
                                stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=[0-9a-f]+")
    lab = None
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and make.poll() is None and not url.search(log.read_text()):
            time.sleep(0.2)
        text = log.read_text()
        assert url.search(text), text[-2000:]
        assert "open the http://127.0.0.1" in text.splitlines()[0]
        lab = next(p for p in psutil.Process(make.pid).children(recursive=True) if "jupyter" in " ".join(p.cmdline()))
        listening = {c.laddr for c in lab.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert listening and {address.ip for address in listening} == {"127.0.0.1"}, listening
        assert {address.port for address in listening} == {port}
    finally:
        if lab is not None and lab.is_running():
            lab.send_signal(signal.SIGTERM)
            psutil.wait_procs([lab], timeout=10)
        if make.poll() is None:
            make.terminate()
        make.wait(timeout=20)


# --------------------------------------------------------------------------- the README


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_says_how_to_run_the_installed_commands():
    readme = _readme()
    assert "source .venv/bin/activate" in readme
    assert ".venv/bin/stabmon" in readme and ".venv/bin/papermill" in readme
    assert "make lab" in readme and "127.0.0.1" in readme and "--allow-root" in readme


def test_readme_stands_alone():
    readme = _readme()
    links = re.findall(r"\]\(([^)#\s]+)", readme)
    local = [link for link in links if not re.match(r"[a-z]+:", link)]
    assert local, "expected links to docs/"
    for link in local:
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), link
    assert "../" not in readme and "shared/" not in readme
    assert not re.search(r"\bthe seed\b|\bseed's\b", readme, re.IGNORECASE), "jargon: say what it is"


def test_readme_marks_the_examples_that_need_a_run_first():
    readme = _readme()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.DOTALL)
    needing = ("stabmon analyze --input", "stabmon report --input", "stabmon compare ")
    for block in blocks:
        lines = block.splitlines()
        for line_number, line in enumerate(lines):
            if line.startswith(needing):
                comment = next((c for c in reversed(lines[:line_number]) if c.startswith("#")), "")
                inline = line.partition("#")[2]
                assert "needs" in comment or "needs" in inline, f"{line!r} is not marked: {comment!r}"


# --------------------------------------------------------------------------- environment.yml

#: pyproject's name -> conda-forge's name, for every runtime and dev dependency.
#: ``pip`` marks a package installed by pip inside the environment: not found on conda-forge.
CONDA_FORGE_NAMES = {
    "pandas": "pandas",
    "numpy": "numpy",
    "matplotlib": "matplotlib",
    "prometheus-api-client": "pip",
    "requests": "requests",
    "papermill": "papermill",
    "nbconvert": "nbconvert",
    "nbformat": "nbformat",
    "ipykernel": "ipykernel",
    "jupyterlab": "jupyterlab",
    "jsonschema": "jsonschema",
    "fastjsonschema": "python-fastjsonschema",
    "orjson": "orjson",
    "pyyaml": "pyyaml",
    "scipy": "scipy",
    "tqdm": "tqdm",
    "psutil": "psutil",
    "pytest": "pytest",
    "nbmake": "nbmake",
    "hypothesis": "hypothesis",
    "import-linter": "import-linter",
    "nbstripout": "nbstripout",
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "prometheus-fastapi-instrumentator": "prometheus-fastapi-instrumentator",
    "distributed": "distributed",
    "opentelemetry-sdk": "opentelemetry-sdk",
    "opentelemetry-exporter-prometheus": "opentelemetry-exporter-prometheus",
    "opentelemetry-instrumentation-fastapi": "opentelemetry-instrumentation-fastapi",
}


def _split(requirement: str) -> tuple[str, str]:
    name = re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0]
    return name.lower().replace("_", "-"), requirement.strip()[len(name):].replace(" ", "")


def test_environment_yml_uses_conda_forge_names_for_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [_split(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    assert {name for name, _ in wanted} == set(CONDA_FORGE_NAMES), "a dependency without its conda-forge name"
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = dict(_split(d) for d in env["dependencies"] if isinstance(d, str))
    pip = [d for d in env["dependencies"] if isinstance(d, dict)][0]["pip"]
    assert re.fullmatch(r"=3\.1[1-9]", conda.pop("python")), "Python must be pinned"
    assert conda.pop("pip") == ""
    expected_conda = {CONDA_FORGE_NAMES[name]: spec for name, spec in wanted if CONDA_FORGE_NAMES[name] != "pip"}
    assert conda == expected_conda  # same names, same version bounds, nothing else
    expected_pip = sorted(name + spec for name, spec in wanted if CONDA_FORGE_NAMES[name] == "pip")
    assert sorted(d for d in pip if d != "-e .") == expected_pip
    assert "-e ." in pip
    assert "fastjsonschema" not in conda  # PyPI's name: conda-forge calls it python-fastjsonschema
