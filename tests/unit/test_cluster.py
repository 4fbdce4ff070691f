"""Which Dask scheduler a run uses, the errors when it cannot, and the files a worker hands back."""

from __future__ import annotations

import os
import socket
import sys

import pytest

from stabmon.cli.main import main
from stabmon.core.errors import InputError
from stabmon.store import TEMP_RE, remove_stale_temp_files, write_files_atomic
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
