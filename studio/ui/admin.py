"""Teacher mode: one person who can see and stop every job, lock the studio and change its limits.

The tab shows only a password box (or nothing at all when no admin is configured).
Signing in checks `STUDIO_ADMIN_PASSWORD` on the server, in constant time; on a Space,
the Space's owner signed in with Hugging Face is the admin too. The session's admin
flag lives in server-side state, and every admin handler checks it again, so calling an
admin endpoint through the API without signing in does nothing but answer "sign in first".
Students never see the controls: they are created hidden and shown to the admin's
session only.
"""

from __future__ import annotations

import hmac
import os
import time

import gradio as gr
import pandas as pd

from studio.errors import StudioError
from studio.jobs.registry import is_studio_owner
from studio.ownership import clean_old_outputs, owner_tag

from .blocks import packed_on
from .common import user_errors
from .context import Studio

JOB_COLUMNS = ["job", "owner", "kind", "state", "started", "seconds", "note"]
LIMIT_FIELDS = {  # settings field -> (label, help)
    "max_jobs_per_visitor": ("Jobs per visitor", "queued or running at once"),
    "max_new_tokens": ("Max new tokens", "per text answer"),
    "max_prompt_tokens": ("Max prompt tokens", "longer prompts are refused"),
    "max_image_pixels": ("Max image pixels", "width x height"),
    "max_audio_seconds": ("Max audio seconds", "per clip"),
    "max_finetune_steps": ("Max fine-tune steps", "per run"),
    "max_job_minutes": ("Max job minutes", "wall time of one job; 0 = none"),
}


def is_admin(studio: Studio, password: str, request: gr.Request | None) -> bool:
    user = getattr(request, "username", None) if request is not None else None
    space_owner = os.environ.get("SPACE_AUTHOR_NAME")
    if user and space_owner and user == space_owner:
        return True
    secret = studio.settings.admin_password
    return bool(secret) and hmac.compare_digest((password or "").encode(), secret.encode())


def jobs_frame(studio: Studio) -> pd.DataFrame:
    now = time.time()
    rows = []
    for job in studio.jobs.jobs():
        started = job["started"]
        end = job["ended"] or now
        rows.append([job["id"][:12], owner_label(job["owner"]), job["kind"], job["state"],
                     time.strftime("%H:%M:%S", time.localtime(started)) if started else "waiting",
                     round(end - started, 1) if started else 0.0, job["message"][:80]])
    return pd.DataFrame(rows, columns=JOB_COLUMNS)


def owner_label(owner: str) -> str:
    """Signed-in users by name; anonymous visitors by the same one-way tag their folders carry."""
    if owner.startswith("user:") or is_studio_owner(owner):
        return owner
    return f"visitor {owner_tag(owner)[:8]}"


def create_admin_tab(demo: gr.Blocks, studio: Studio) -> dict:
    admin_state = gr.State(False)

    def require(state: bool) -> None:
        if not state:
            raise StudioError("Sign in as the teacher first.")

    # ---- handlers ------------------------------------------------------------------------------

    def sign_in(password, request: gr.Request):
        if not is_admin(studio, password, request):
            time.sleep(1.0)  # slows password guessing
            return False, gr.update(visible=False), "Wrong password.", gr.update(value="")
        return True, gr.update(visible=True), "Signed in as the teacher.", gr.update(value="")

    @user_errors
    def refresh(state):
        require(state)
        s = studio.settings
        return (jobs_frame(studio), s.locked, *[getattr(s, name) for name in LIMIT_FIELDS])

    @user_errors
    def stop_job(state, job_id):
        require(state)
        job_id = (job_id or "").strip()
        matches = [j for j in studio.jobs.jobs() if job_id and j["id"].startswith(job_id)]
        if len(matches) != 1:
            raise StudioError("Job: paste one job id from the table (the first characters are enough).")
        job = studio.jobs.get(matches[0]["id"])
        studio.jobs.stop(job)
        return jobs_frame(studio), f"Asked job {job_id} ({job.kind}) to stop."

    @user_errors
    def stop_all(state):
        require(state)
        jobs = [studio.jobs.get(j["id"]) for j in studio.jobs.jobs() if j["state"] in ("queued", "running")]
        for job in jobs:
            if job is not None and not is_studio_owner(job.owner):
                studio.jobs.stop(job)
        return jobs_frame(studio), f"Asked {len(jobs)} job(s) to stop."

    @user_errors
    def apply_settings(state, locked, *values):
        require(state)
        changes = {}
        for (name, (label, _)), value in zip(LIMIT_FIELDS.items(), values):
            if value is None or value != value or value < 0 or value == float("inf"):
                raise StudioError(f"{label}: use a finite number, 0 or more.")
            current = getattr(studio.settings, name)
            changes[name] = type(current)(value)
        studio.update_settings(locked=bool(locked), **changes)
        return "Saved: new requests use these limits now." + (" The studio is locked to the preset models."
                                                              if locked else "")

    @user_errors
    def clean(state, hours):
        require(state)
        if hours is None or hours != hours or hours < 0:
            raise StudioError("Older than (hours): use a number, 0 or more.")
        running = {str(j["id"]) for j in studio.jobs.jobs() if j["state"] in ("queued", "running")}
        removed = clean_old_outputs(studio.settings.outputs_dir, max(hours * 3600, 60.0))  # never the last minute's
        return f"Removed {removed} output folder(s) older than {hours:g} h ({len(running)} running job(s) kept)."

    # ---- layout --------------------------------------------------------------------------------

    gr.Markdown("For the teacher or the operator: sign in to see every job, stop any of them, lock the "
                "studio to its preset models and change the limits." if studio.settings.admin_password else
                "Teacher mode is off: set `STUDIO_ADMIN_PASSWORD` in the server's settings to turn it on.")
    with gr.Row(visible=bool(studio.settings.admin_password) or bool(os.environ.get("SPACE_AUTHOR_NAME"))):
        password = gr.Textbox(label="Teacher password", type="password", elem_id="admin-password", scale=3)
        sign_in_btn = gr.Button("Sign in", elem_id="admin-sign-in", scale=1)
    note = gr.Markdown(elem_id="admin-note")
    with gr.Column(visible=False, elem_id="admin-panel") as panel:
        with gr.Row():
            refresh_btn = gr.Button("Refresh", elem_id="admin-refresh")
            stop_all_btn = gr.Button("Stop every job", variant="stop", elem_id="admin-stop-all")
        jobs = gr.Dataframe(headers=JOB_COLUMNS, interactive=False, label="Jobs (newest first)",
                            elem_id="admin-jobs")
        with gr.Row():
            job_id = gr.Textbox(label="Job id to stop", elem_id="admin-job-id", scale=3)
            stop_btn = gr.Button("Stop this job", variant="stop", elem_id="admin-stop-job", scale=1)
        locked = gr.Checkbox(label="Lock to the preset models (hides free-text model ids and hub loading)",
                             value=studio.settings.locked, elem_id="admin-locked")
        with gr.Row():
            limits = [gr.Number(value=getattr(studio.settings, name), label=label, info=help_text,
                                elem_id=f"admin-{name.replace('_', '-')}")
                      for name, (label, help_text) in LIMIT_FIELDS.items()]
        save_btn = gr.Button("Save limits", variant="primary", elem_id="admin-save")
        with gr.Row():
            hours = gr.Number(value=studio.settings.output_max_age_hours, label="Delete outputs older than (hours)",
                              elem_id="admin-clean-hours")
            clean_btn = gr.Button("Clean outputs", elem_id="admin-clean")

    # ---- wiring --------------------------------------------------------------------------------

    private = dict(api_visibility="private", concurrency_limit=None)
    # A refresh rewrites the settings' fields: its tracker covers each of them (not only the first output, the
    # studio's default), so a setting changed while it runs is not silently put back.
    refreshed = dict(private, show_progress_on=[jobs, locked, *limits])
    sign_in_btn.click(sign_in, password, [admin_state, panel, note, password], **private).then(
        refresh, admin_state, [jobs, locked, *limits], **refreshed)
    password.submit(sign_in, password, [admin_state, panel, note, password], **private).then(
        refresh, admin_state, [jobs, locked, *limits], **refreshed)
    refresh_btn.click(refresh, admin_state, [jobs, locked, *limits], **refreshed)
    stop_btn.click(stop_job, [admin_state, job_id], [jobs, note], **private)
    stop_all_btn.click(stop_all, admin_state, [jobs, note], **private)
    packed_on([save_btn.click], apply_settings, [admin_state, locked, *limits], note, **private)
    clean_btn.click(clean, [admin_state, hours], note, **private)
    return dict(password=password, panel=panel, jobs=jobs, note=note)
