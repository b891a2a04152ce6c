"""The app starts fast because heavy libraries wait until a tab needs them."""

import subprocess
import sys

HEAVY = ("torch", "transformers", "diffusers", "peft", "librosa", "bitsandbytes", "sklearn", "matplotlib")


def test_building_the_app_imports_no_heavy_library():
    code = (
        "import os, sys; os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'\n"
        "from studio.settings import Settings\nfrom studio.ui.app import build_app\n"
        "build_app(Settings())\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1:] in ([], [""]), f"imported at start-up: {out.stdout.strip()}"
