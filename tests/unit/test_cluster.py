"""Which Dask scheduler a run uses, the errors when it cannot, and the files a worker hands back."""

from __future__ import annotations

import os
import shlex
import socket
import sys
from pathlib import Path

import pytest

from stabmon.cli.main import main
from stabmon.core.errors import InputError, ReportError, StoreError
from stabmon.report.remote import as_named, local_copy, write_rendered
from stabmon.store import TEMP_RE, pack_folder, remove_stale_temp_files, unpack_folder, write_files_atomic
from stabmon.store.cluster import SCHEDULER_ENV, ClusterError, dask_client, resolve_scheduler


# --------------------------------------------------------------------------- the address


@pytest.mark.parametrize("given, resolved", [
    ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    ("scheduler.dask.svc:8786", "tcp://scheduler.dask.svc:8786"),
    ("tls://dask.example.org:443", "tls://dask.example.org:443"),
    ("[::1]:8786", "tcp://[::1]:8786"),
    ("  local ", "local"),
])
def test_an_address_is_taken_with_tcp_when_it_names_no_protocol(given, resolved):
    assert resolve_scheduler(given, env={}) == resolved


def test_the_flag_wins_over_the_environment_and_no_value_means_no_cluster():
    env = {SCHEDULER_ENV: "tcp://127.0.0.1:9000"}
    assert resolve_scheduler("local", env=env) == "local"
    assert resolve_scheduler(None, env=env) == "tcp://127.0.0.1:9000"
    assert resolve_scheduler(None, env={}) is None
    assert resolve_scheduler(None, env={SCHEDULER_ENV: "  "}) is None


@pytest.mark.parametrize("bad", ["", "foo bar", "tcp://host", "http://host:8786", "host:0", "host:70000", "host:-1"])
def test_a_value_that_is_no_address_is_refused_naming_the_flag(bad):
    with pytest.raises(InputError, match=r"^--scheduler .* is not a Dask scheduler address"):
        resolve_scheduler(bad, env={})


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(InputError, match=f"^{SCHEDULER_ENV} 'nope' is not"):
        resolve_scheduler(None, env={SCHEDULER_ENV: "nope"})


# --------------------------------------------------------------------------- the errors


def test_without_distributed_installed_the_flag_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(InputError, match=r"needs Dask distributed.*pip install 'stabmon\[dask\]'"):
        with dask_client("tcp://127.0.0.1:1"):
            pass


def test_an_unreachable_scheduler_is_one_error_naming_it():
    pytest.importorskip("distributed")
    with socket.socket() as sock:  # a port nobody listens on: bound, never accepting
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(ClusterError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
            with dask_client(f"tcp://127.0.0.1:{port}", connect_timeout=1):
                pass


def test_the_command_line_prints_one_line_and_exits_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(SCHEDULER_ENV, "not an address")
    code = main(["monitor", "--baseline", str(tmp_path / "b.json"), "--services", "a,b",
                 "--output", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [f"stabmon: error: {SCHEDULER_ENV} 'not an address' is not a Dask scheduler address: "
                   "give tcp://HOST:PORT, HOST:PORT or 'local'"]


# --------------------------------------------------------------------------- the files handed back


def test_a_new_subfolder_is_renamed_into_place_whole_and_existing_ones_file_by_file(tmp_path):
    (tmp_path / "day_01_raw").mkdir()
    (tmp_path / "day_01_raw" / "old.json").write_bytes(b"old\n")
    files = {"day_01_raw/b.json": b"1\n", "day_02_raw/c.json": b"2\n", "day_02_raw/d.json": b"3\n",
             "weekly_summary.json": b"{}\n"}
    write_files_atomic(tmp_path, files)
    got = {str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert got == {**files, "day_01_raw/old.json": b"old\n"}
    assert oct((tmp_path / "day_02_raw" / "c.json").stat().st_mode & 0o777) == "0o644"


def test_a_folder_left_half_written_by_a_kill_is_invisible_and_cleaned_up(tmp_path):
    staging = tmp_path / ".day_03_raw.0a1b2c3d.tmp"  # what a kill leaves: the folder never renamed
    staging.mkdir()
    (staging / "snapshot.json").write_bytes(b'{"half')
    assert TEMP_RE.match(staging.name)
    assert not (tmp_path / "day_03_raw").exists()
    assert remove_stale_temp_files(tmp_path) == [staging]
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- a folder shipped as bytes


def test_a_folder_packs_every_file_but_the_skipped_ones_the_lock_and_temp_files(tmp_path):
    (tmp_path / "day_01_raw").mkdir()
    (tmp_path / "day_01_raw" / "snapshot_a.json").write_bytes(b"{}\n")
    (tmp_path / "day_01_raw" / ".snapshot_b.json.0a1b2c3d.tmp").write_bytes(b"{")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "weekly_summary.html").write_bytes(b"<html>")
    (tmp_path / "run.json").write_bytes(b'{"run": 1}')
    (tmp_path / ".stabmon.lock").write_bytes(b"")
    assert pack_folder(tmp_path, skip=frozenset({"reports"})) == {
        "day_01_raw/snapshot_a.json": b"{}\n", "run.json": b'{"run": 1}'}
    assert set(pack_folder(tmp_path)) == {"day_01_raw/snapshot_a.json", "reports/weekly_summary.html", "run.json"}


def test_unpacking_what_was_packed_gives_the_same_files_elsewhere(tmp_path):
    files = {"day_01_raw/snapshot_a.json": b"\x00\xffbinary", "day_02_raw/snapshot_b.json": b"2",
             "reports/retrospective_files/chart.png": b"\x89PNG", "run.json": b"{}"}
    unpack_folder(tmp_path / "copy" / "srv" / "alpha", files)
    assert pack_folder(tmp_path / "copy" / "srv" / "alpha") == files


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside", "day_01_raw/../../x", "", "a//b", "./run.json",
                                 "a\\b"])
def test_a_path_reaching_outside_the_folder_is_refused_and_nothing_is_written(tmp_path, bad):
    with pytest.raises(StoreError, match="refused to unpack"):
        unpack_folder(tmp_path / "copy", {"run.json": b"{}", bad: b"x"})
    assert not (tmp_path / "copy").exists()
    assert list(tmp_path.parent.glob("outside")) == [] and list(tmp_path.glob("x")) == []


def test_the_worker_copy_sits_at_the_real_path_below_its_root_and_removing_the_root_names_the_real_folder():
    root = "/tmp/stabmon-render-k2j4"
    copy = local_copy(Path(root), "/srv/fleets/week 1/alpha")
    assert str(copy) == "/tmp/stabmon-render-k2j4/srv/fleets/week 1/alpha"
    # the papermill line quotes the whole path: the quotes stay around the real one
    line = f"papermill retrospective.ipynb out.ipynb -p run_dir {shlex.quote(str(copy))}".encode()
    assert as_named(line, root) == b"papermill retrospective.ipynb out.ipynb -p run_dir '/srv/fleets/week 1/alpha'"
    with pytest.raises(ReportError, match="not an absolute path"):
        local_copy(Path(root), "fleet/alpha")


def test_a_workers_files_replace_stale_charts_and_an_earlier_failure(tmp_path):
    reports = tmp_path / "reports"
    (reports / "retrospective_files").mkdir(parents=True)
    (reports / "retrospective_files" / "retrospective_9_0.png").write_bytes(b"old chart")
    (reports / "retrospective.failed.ipynb").write_bytes(b"{}")
    (reports / "weekly_summary.failed.ipynb").write_bytes(b"{}")
    written = write_rendered(reports, {"retrospective.ipynb": b"{}", "retrospective.md": b"# R\n",
                                       "retrospective_files/retrospective_3_0.png": b"new chart"})
    assert sorted(str(p.relative_to(reports)) for p in reports.rglob("*") if p.is_file()) == [
        "retrospective.ipynb", "retrospective.md", "retrospective_files/retrospective_3_0.png",
        "weekly_summary.failed.ipynb"]  # the weekly notebook was not rendered again: its failure stays
    assert len(written) == 3
