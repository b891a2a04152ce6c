"""GenAI Studio: `python app.py` serves the studio on the embedded default models.

Only the standard library is imported at the top: worker processes start from a
fork server that imports this file's dependencies on its own, and the page
process imports Gradio inside `main()`, after it has started the fork server, so
that on two cores torch and the engines load beside Gradio instead of after it.
"""

import logging
import os

# Analytics off before gradio is imported: the studio makes no calls home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def main() -> None:
    from studio.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if settings.workers == "process":
        from studio.jobs.pool import start_fork_server

        start_fork_server()  # torch and the engines load in that process while this one imports Gradio
    from studio.ui.app import build_app, launch_kwargs, start_background

    demo = build_app(settings)
    demo.launch(**launch_kwargs(settings, demo.studio), prevent_thread_lock=True)
    start_background(demo)  # warm-up and housekeeping, after the page answers
    try:
        demo.block_thread()
    finally:
        demo.studio.close()


if __name__ == "__main__":
    main()
