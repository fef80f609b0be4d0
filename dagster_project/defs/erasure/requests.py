"""The erasure request feed (R29): request files dropped into `erasure.requests_folder` are
carried out by the `erasure_requests` job, which the `erasure_request_feed` sensor starts once
per file (lib/privacy/requests.py does the work; `custodian erase --requests` is the same from
the command line)."""

import os
from pathlib import Path

import dagster as dg

from dagster_project import settings
from dagster_project.defs.partitions import WAREHOUSE_POOL
from dagster_project.defs.resources import GovernanceResource
from dagster_project.lib.privacy.access import Actor, append_access
from dagster_project.lib.privacy.requests import process_request_file, requests_folder

JOB = "erasure_requests"
OP = "carry_out_erasure_requests"
# Who the access log names for erasures the feed carried out (each request names who asked).
FEED_ACTOR = Actor(user="erasure_request_feed", role="dagster")


class RequestFile(dg.Config):
    file: str


@dg.op(
    name=OP,
    pool=WAREHOUSE_POOL,
    description="Carries out every request of one request file, then deletes the file; the "
    "results (no identifier) go to the folder's results/ subfolder.",
)
def carry_out_erasure_requests(
    context: dg.OpExecutionContext, config: RequestFile, governance: GovernanceResource
) -> None:
    governance_config = governance.load()
    salt = governance_config.masking.hash_salt_env
    if not os.environ.get(salt):
        raise dg.Failure(
            f"erasure hashes the person's identifiers for the suppression list with the key in "
            f"{salt}, which is not set in the Dagster process: set it (the daily runs' key)"
        )
    path = Path(config.file)
    detail = f"request file {path.name}"
    try:
        outcome = process_request_file(governance_config, path)
    except Exception:
        append_access(settings.access_log_path(), actor=FEED_ACTOR, action="erase",
                      detail=detail, outcome="failed")  # fmt: skip
        raise
    counts: dict[str, int] = {}
    for result in outcome.results:
        counts[result.status] = counts.get(result.status, 0) + 1
    append_access(settings.access_log_path(), actor=FEED_ACTOR, action="erase", detail=detail,
                  outcome="ok", rows=sum(r.rows for r in outcome.results))  # fmt: skip
    context.log.info(f"{path.name}: {counts}; {outcome.summary}; results in {outcome.result_file}")
    context.add_output_metadata(
        {
            "requests": len(outcome.results),
            "outcomes": dg.MetadataValue.json(counts),
            "results": dg.MetadataValue.path(str(outcome.result_file)),
            "summary": outcome.summary,
        }
    )


@dg.job(name=JOB, description="Carries out one erasure request file from the request feed (R29).")
def erasure_requests_job() -> None:
    carry_out_erasure_requests()


@dg.sensor(
    name="erasure_request_feed",
    job_name=JOB,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts the erasure_requests job for each request file (*.csv) in "
    "erasure.requests_folder, once per file version.",
)
def erasure_request_feed(context: dg.SensorEvaluationContext, governance: GovernanceResource):
    folder = requests_folder(governance.load())
    if not folder.is_dir():
        return dg.SkipReason(f"no request folder {folder} yet")
    files = sorted(path for path in folder.glob("*.csv") if path.is_file())
    if not files:
        return dg.SkipReason(f"no request file in {folder}")
    return [
        dg.RunRequest(
            # A file re-delivered with other content under the same name is a new request.
            run_key=f"{path.name}:{path.stat().st_mtime_ns}:{path.stat().st_size}",
            run_config={"ops": {OP: {"config": {"file": str(path)}}}},
            tags={"erasure/request_file": path.name},
        )
        for path in files
    ]
