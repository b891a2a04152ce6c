"""Layer 2: the real Blocks app launched in-process on a free port, driven by gradio_client."""

import socket

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def studio_settings(tmp_path_factory):
    from studio.settings import Settings

    return Settings(outputs_dir=tmp_path_factory.mktemp("outputs"), port=free_port(), max_file_size_mb=5)


@pytest.fixture(scope="session")
def studio_url(studio_settings):
    from studio.ui.app import build_app, launch_kwargs

    demo = build_app(studio_settings)
    kwargs = launch_kwargs(studio_settings, demo.studio) | dict(prevent_thread_lock=True, quiet=True)
    _, url, _ = demo.launch(**kwargs)
    yield url
    demo.close()
    demo.studio.close()


@pytest.fixture()
def client(studio_url):
    from gradio_client import Client

    return Client(studio_url, verbose=False)
