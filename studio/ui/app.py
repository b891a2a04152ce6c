"""Builds the whole Blocks app from the tab modules; knows nothing of models itself."""

from __future__ import annotations

import os

import gradio as gr

from starlette.middleware import Middleware

from studio.settings import Settings

from .admin import create_admin_tab
from .audio import create_audio_tab
from .blocks import StudioBlocks
from .finetune import create_finetune_tab
from .image import create_image_tab
from .playground import create_playground_tab
from .context import Studio
from .text import create_text_tab
from .theme import CSS, KEYBOARD_JS, studio_theme
from .visitor import VisitorCookie

RELAY_CONCURRENCY = 64  # page handlers waiting on jobs at once (they hold a thread each, no compute)



def build_app(settings: Settings, studio: Studio | None = None) -> gr.Blocks:
    """The whole page; `studio` (built here unless given) owns the job registry and its worker processes."""
    studio = studio or Studio(settings)
    max_age_s = int(settings.output_max_age_hours * 3600)
    delete_cache = (max(600, max_age_s // 4), max_age_s) if max_age_s else None  # Gradio's uploads and copies
    with StudioBlocks(title="GenAI Studio", analytics_enabled=False, delete_cache=delete_cache) as demo:
        gr.Markdown(
            "# GenAI Studio\nNeural networks and generative models in the browser. "
            "Everything here runs offline on built-in models; hub models work when you have internet.",
            elem_classes="studio-header",
        )
        with gr.Tabs():
            with gr.Tab("Playground", id="playground", elem_id="tab-playground"):
                create_playground_tab(demo, studio)
            with gr.Tab("Text", id="text", elem_id="tab-text"):
                create_text_tab(demo, studio)
            with gr.Tab("Image", id="image", elem_id="tab-image"):
                create_image_tab(demo, studio)
            with gr.Tab("Audio", id="audio", elem_id="tab-audio"):
                create_audio_tab(demo, studio)
            with gr.Tab("Fine-tune", id="finetune", elem_id="tab-finetune"):
                create_finetune_tab(demo, studio)
            if settings.admin_password or os.environ.get("SPACE_ID"):  # no teacher configured: no tab at all
                with gr.Tab("Teacher", id="teacher", elem_id="tab-teacher"):
                    create_admin_tab(demo, studio)
        _hide_free_model_fields_when_locked(demo, studio)
    # Handlers only relay events from worker processes, so many may wait at once; fairness and limits
    # are the job registry's (per visitor, per kind), which answers with a message instead of "queue full".
    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=RELAY_CONCURRENCY)
    demo.unload(studio.page_closed)
    demo.studio = studio  # tests and app.py reach the registry through the app
    return demo


FREE_TEXT_MODEL_FIELDS = ("text-custom-model", "image-custom-model", "audio-custom-model")


def _hide_free_model_fields_when_locked(demo: gr.Blocks, studio: Studio) -> None:
    """Teacher mode's lock: each page load hides the boxes for typed model ids (the server refuses them anyway)."""
    fields = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) in FREE_TEXT_MODEL_FIELDS]
    if fields:
        demo.load(lambda: [gr.update(visible=not studio.settings.locked)] * len(fields), None, fields,
                  api_visibility="private", queue=False)


def launch_kwargs(settings: Settings, studio: Studio | None = None) -> dict:
    """Launch options shared by `app.py` and the tests' in-process server.

    With `studio`, the OpenAI-compatible endpoints (/v1/...) are served beside the page: FastAPI takes
    them as its first routes, so Gradio's own routes cannot shadow them."""
    app_kwargs: dict = {"middleware": [Middleware(VisitorCookie)]}
    if studio is not None:
        from .openai_api import create_openai_router

        app_kwargs["routes"] = list(create_openai_router(studio).routes)
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        show_error=False,  # raw exceptions never reach the page; gr.Error text does
        max_file_size=settings.max_file_size,
        # Outputs are not served from their folder: a file reaches a page only when a handler returns it to its
        # owner (Gradio then serves a copy under a content-hash name). Nobody can fetch another visitor's files.
        allowed_paths=[],
        max_threads=RELAY_CONCURRENCY + 40,
        app_kwargs=app_kwargs,
        ssr_mode=False,
        theme=studio_theme(),
        css=CSS,
        head=KEYBOARD_JS,
        footer_links=["api", "settings"],
    )


def start_background(demo: gr.Blocks) -> None:
    """After the page answers: start the worker processes and warm them, and clean old outputs hourly."""
    import threading

    from studio.ownership import clean_old_outputs

    studio: Studio = demo.studio
    studio.warm()

    def housekeeping():
        import time

        while True:
            hours = studio.settings.output_max_age_hours
            if hours:
                clean_old_outputs(studio.settings.outputs_dir, hours * 3600)
            time.sleep(3600)

    threading.Thread(target=housekeeping, name="studio-housekeeping", daemon=True).start()
