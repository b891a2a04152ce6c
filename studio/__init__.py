"""GenAI Studio engine: plain Python, no Gradio. The UI lives in studio.ui."""

__version__ = "0.1.0"
