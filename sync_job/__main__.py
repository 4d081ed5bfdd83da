"""`python -m sync_job` runs the CLI (handy where the console script is not on PATH)."""

from sync_job.cli import main

main(prog_name="sync-job")
