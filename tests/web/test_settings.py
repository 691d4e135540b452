"""The web app's settings: documented, safe by default, refused when wrong."""

from __future__ import annotations

import subprocess
import sys

from tests.support.settings import ROOT, make_settings
from webapp.settings import WebSettings

REQUIRED = {
    "SERVICE_TOKEN": "s" * 16,
    "ADMIN_API_TOKEN": "a" * 16,
    "WEBAPP_SECRET": "w" * 16,
    "BOT_TOKEN": "1:x",
}


def test_every_setting_is_in_the_env_example():
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert set(WebSettings.model_fields) - documented == set()


def test_dev_login_is_off_and_cookies_follow_the_scheme_by_default():
    settings = make_settings(WebSettings, REQUIRED)
    assert not settings.WEBAPP_DEV_AUTH and not settings.secure_cookies
    assert settings.WEBAPP_ADDR == "127.0.0.1:8080"
    behind_https = make_settings(WebSettings, REQUIRED, WEBAPP_BASE_URL="https://cabinet.example/")
    assert behind_https.secure_cookies and behind_https.base_origin == "https://cabinet.example"


def test_a_wrong_or_missing_setting_stops_the_process_with_one_line_each():
    env = {"PATH": "/usr/bin", "SERVICE_TOKEN": "short", "ADMIN_API_TOKEN": "a" * 16,
           "WEBAPP_SECRET": "w" * 16, "WEBAPP_BASE_URL": "cabinet.example"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "webapp"], env=env, cwd="/", capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert (
        "config error: SERVICE_TOKEN: must be at least 16 characters (use a random secret)" in lines
    )
    assert "config error: BOT_TOKEN: Field required" in lines
    assert "config error: WEBAPP_BASE_URL: must be an http(s) URL" in lines
    assert "short" not in done.stderr
