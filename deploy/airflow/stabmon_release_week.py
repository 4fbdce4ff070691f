"""An Airflow DAG for the week after a release (docs/scheduling.md).

Every hour a BashOperator runs ``stabmon monitor --catch-up`` (collect what
has passed, write the closed days, the current day as partial and the week
so far, exit 0); after it, papermill renders the weekly notebook of the week
so far. Credentials come from the worker's environment (an Airflow
connection or secret backend exported as ``STABMON_PROMETHEUS_TOKEN``),
never from the DAG or the notebook parameters.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

SERVICE = "checkout"
RELEASE = "v1.4.2"
START = "2026-11-20T00:00:00Z"
RUN_DIR = f"/data/stabmon/runs/{SERVICE}-{RELEASE}"
BASELINE = f"/data/stabmon/baselines/{SERVICE}.json"


def render_weekly_notebook() -> None:
    """Render the weekly notebook of the run folder with papermill (inputs from files, no credentials)."""
    from pathlib import Path

    import papermill as pm
    from stabmon.core.paths import NOTEBOOKS_DIR

    Path(RUN_DIR, "reports").mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(str(NOTEBOOKS_DIR / "weekly_summary.ipynb"), f"{RUN_DIR}/reports/weekly_summary.ipynb",
                        parameters={"run_dir": RUN_DIR})


with DAG(
    dag_id=f"stabmon_{SERVICE}_{RELEASE.replace('.', '_')}",
    start_date=datetime(2026, 11, 20),
    end_date=datetime(2026, 11, 27, 1),
    schedule=timedelta(hours=1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["stabmon"],
) as dag:
    catch_up = BashOperator(
        task_id="catch_up",
        bash_command=(f"stabmon monitor --catch-up --baseline {BASELINE} --service {SERVICE} "
                      f"--start {START} --release {RELEASE} --output {RUN_DIR}"),
    )
    weekly_notebook = PythonOperator(task_id="weekly_notebook", python_callable=render_weekly_notebook)
    catch_up >> weekly_notebook
