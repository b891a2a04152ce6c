"""Builds the whole Blocks app from the tab modules; knows nothing of models itself."""

from __future__ import annotations

import gradio as gr

from studio.settings import Settings

from .audio import create_audio_tab
from .finetune import create_finetune_tab
from .image import create_image_tab
from .playground import create_playground_tab
from .text import create_text_tab

CSS = """
.studio-header h1 {margin-bottom: 0}
.studio-stats {font-variant-numeric: tabular-nums}
"""


def build_app(settings: Settings) -> gr.Blocks:
    with gr.Blocks(title="GenAI Studio", analytics_enabled=False) as demo:
        gr.Markdown(
            "# GenAI Studio\nNeural networks and generative models in the browser. "
            "Everything here runs offline on built-in models; hub models work when you have internet.",
            elem_classes="studio-header",
        )
        with gr.Tabs():
            with gr.Tab("Playground", id="playground", elem_id="tab-playground"):
                create_playground_tab(demo, settings)
            with gr.Tab("Text", id="text", elem_id="tab-text"):
                create_text_tab(demo, settings)
            with gr.Tab("Image", id="image", elem_id="tab-image"):
                create_image_tab(demo, settings)
            with gr.Tab("Audio", id="audio", elem_id="tab-audio"):
                create_audio_tab(demo, settings)
            with gr.Tab("Fine-tune", id="finetune", elem_id="tab-finetune"):
                create_finetune_tab(demo, settings)
    demo.queue(max_size=settings.queue_max_size, default_concurrency_limit=1)
    _calm_queue_polling(demo)
    return demo


def _calm_queue_polling(demo: gr.Blocks, seconds: float = 0.02) -> None:
    """Let Gradio's queue poll every 20 ms (not 1 ms, and 10 ms for progress) while it has nothing to do.

    Each wake-up takes the interpreter lock from training and generation threads:
    measured here, the 1 ms poll cost the Playground 15-20% of its steps. A new
    request now waits at most 20 ms longer to start. (Gradio has no public setting
    for this; without the attribute nothing changes.)
    """
    queue = getattr(demo, "_queue", None)
    for name in ("sleep_when_free", "progress_update_sleep_when_free"):
        if queue is not None and getattr(queue, name, seconds) < seconds:
            setattr(queue, name, seconds)


def launch_kwargs(settings: Settings) -> dict:
    """Launch options shared by `app.py` and the tests' in-process server."""
    return dict(
        server_name=settings.host,
        server_port=settings.port,
        show_error=False,  # raw exceptions never reach the page; gr.Error text does
        max_file_size=settings.max_file_size,
        allowed_paths=[str(settings.outputs_dir)],  # outputs are offered for download from there
        ssr_mode=False,
        theme=gr.themes.Soft(),
        css=CSS,
        footer_links=["api", "settings"],
    )
