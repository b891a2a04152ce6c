"""A studio launched as an operator would run it for a class: a teacher password, small limits."""

import pytest

from tests.app.conftest import free_port

ADMIN_PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def class_studio(tmp_path_factory):
    """(demo, url, settings) of a studio with teacher mode on."""
    from studio.settings import Settings
    from studio.ui.app import build_app, launch_kwargs

    settings = Settings(outputs_dir=tmp_path_factory.mktemp("class-outputs"), port=free_port(), max_file_size_mb=5,
                        admin_password=ADMIN_PASSWORD, max_jobs_per_visitor=1)
    demo = build_app(settings)
    _, url, _ = demo.launch(**launch_kwargs(settings, demo.studio) | dict(prevent_thread_lock=True, quiet=True))
    yield demo, url, settings
    demo.close()
    demo.studio.close()
