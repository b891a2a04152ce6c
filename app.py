"""GenAI Studio: `python app.py` serves the studio on the embedded default models."""

import logging
import os

# Analytics off before gradio is imported: the studio makes no calls home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from studio.settings import load_settings  # noqa: E402
from studio.ui.app import build_app, launch_kwargs  # noqa: E402


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    demo = build_app(settings)
    demo.launch(**launch_kwargs(settings))


if __name__ == "__main__":
    main()
