"""What the fork server imports once, so every worker forked from it starts with it already imported.

Training workers are fresh processes for every run (see `pool.py`): whatever a run
needs that is imported here costs nothing at its start. Heavy imports that only one
kind of warm worker needs belong in that kind's warm-up task instead, so the fork
server (and every training process) stays small. The fork server starts after the
page answers, so nothing here delays the first page.
"""

MODULES = (
    "studio.jobs.worker",
    "torch",
    # the Playground trains in a fresh process per run: its whole engine, ready
    "studio.playground.tasks",
    "studio.playground.training",
    "studio.playground.models",
    "studio.playground.datasets",
    "studio.playground.drawing",
)
