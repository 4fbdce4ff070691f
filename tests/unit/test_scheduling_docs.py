"""The scheduling recipes (docs/scheduling.md, deploy/): they parse, compile and run stabmon's catch-up.

Running the CronJob's command against a real Prometheus is in
tests/integration/test_catch_up.py; here: the files are what they claim.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from stabmon.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def cronjob_documents() -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "kubernetes" / "cronjob.yaml").read_text()) if d]


def test_the_kubernetes_manifests_parse_and_take_credentials_from_the_secret():
    documents = {d["kind"]: d for d in cronjob_documents()}
    assert set(documents) == {"Secret", "PersistentVolumeClaim", "CronJob"}
    cronjob = documents["CronJob"]
    assert cronjob["spec"]["schedule"] == "5 * * * *"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": documents["Secret"]["metadata"]["name"]}}]
    assert set(documents["Secret"]["stringData"]) == {"STABMON_PROMETHEUS_TOKEN"}
    # The run folder is on the volume, and no credential is on the command line.
    output = container["args"][container["args"].index("--output") + 1]
    mount = container["volumeMounts"][0]
    assert output.startswith(mount["mountPath"] + "/")
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == documents["PersistentVolumeClaim"]["metadata"]["name"]
    assert not any("TOKEN" in a or "PASSWORD" in a for a in container["args"])
    args = build_parser().parse_args(container["args"])
    assert args.command == "monitor" and args.catch_up and args.report and args.release == "v1.4.2"


def test_the_cron_line_is_five_fields_and_a_catch_up_command():
    text = (ROOT / "docs" / "scheduling.md").read_text()
    block = re.search(r"```cron\n(.*?)```", text, re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert fields[:5] == ["5", "*", "*", "*", "*"]
    command = shlex.split(fields[5].split("&&", 1)[1].split(">>", 1)[0])
    assert command[0].endswith("stabmon")
    args = build_parser().parse_args(command[1:])
    assert args.catch_up and args.start == "2026-11-20T00:00:00Z"


def test_the_systemd_units_run_a_catch_up_every_hour():
    service = (DEPLOY / "systemd" / "stabmon-catchup@.service").read_text()
    timer = (DEPLOY / "systemd" / "stabmon-catchup@.timer").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", service, re.M).group(1)
    assert "monitor --catch-up" in exec_start and "EnvironmentFile=/etc/stabmon/%i.env" in service
    assert re.search(r"^Type=oneshot$", service, re.M)
    assert re.search(r"^OnCalendar=\*-\*-\* \*:05:00$", timer, re.M)
    assert re.search(r"^Persistent=true$", timer, re.M)


def test_the_airflow_dag_compiles_and_runs_the_catch_up_with_a_bash_operator():
    source = (DEPLOY / "airflow" / "stabmon_release_week.py").read_text()
    compile(source, "stabmon_release_week.py", "exec")  # Airflow is not installed: compiling is the check
    assert "BashOperator(" in source and "monitor --catch-up" in source
    assert "papermill" in source and "max_active_runs=1" in source
    assert "STABMON_PROMETHEUS_TOKEN=" not in source and "password" not in source.lower()
