"""Render ``deploy/alertmanager/alertmanager.yml`` with its knobs (mail relay, webhook, Slack).

The committed file is the production config with placeholder endpoints. The knobs replace them
in every receiver at once, so routes, grouping and inhibition stay exactly as committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubepulse.stack import deploy_dir

__all__ = ["load_alertmanager_config", "render_alertmanager_config"]


def load_alertmanager_config(path: Path | None = None) -> dict[str, Any]:
    """The committed Alertmanager config (unless ``path``) as a dict."""
    path = path or deploy_dir() / "alertmanager" / "alertmanager.yml"
    with open(path, encoding="utf-8") as fh:
        config = yaml.safe_load(fh)
    if not isinstance(config, dict) or "route" not in config:
        raise ValueError(f"{path}: not an Alertmanager config (no route)")
    return config


def render_alertmanager_config(
    *,
    smarthost: str | None = None,
    smtp_from: str | None = None,
    smtp_require_tls: bool | None = None,
    webhook_url: str | None = None,
    slack_api_url: str | None = None,
    templates_dir: Path | None = None,
    group_wait: str | None = None,
    group_interval: str | None = None,
    repeat_interval: str | None = None,
    base: Path | None = None,
) -> str:
    """The Alertmanager config as YAML text with the given endpoints set.

    ``smarthost`` is the SMTP relay ``host:port``; ``webhook_url`` replaces every generic webhook
    receiver's URL; ``slack_api_url`` replaces the Slack URL file with a URL (for tests; in
    production keep the secret in the file). ``templates_dir`` makes the template glob absolute,
    for a config written outside ``deploy/alertmanager``. ``group_wait``, ``group_interval`` and
    ``repeat_interval`` replace those timings on every route that sets them (tests shorten them
    to see a notification and its resolution in seconds).
    """
    config = load_alertmanager_config(base)
    glob = config.setdefault("global", {})
    if smarthost is not None:
        glob["smtp_smarthost"] = smarthost
    if smtp_from is not None:
        glob["smtp_from"] = smtp_from
    if smtp_require_tls is not None:
        glob["smtp_require_tls"] = smtp_require_tls
    if templates_dir is not None:
        config["templates"] = [str(templates_dir / "*.tmpl")]
    timings = {
        "group_wait": group_wait,
        "group_interval": group_interval,
        "repeat_interval": repeat_interval,
    }
    routes = [config["route"]]
    while routes:
        route = routes.pop()
        for key, value in timings.items():
            if value is not None and (key in route or route is config["route"]):
                route[key] = value
        routes.extend(route.get("routes", []))
    for receiver in config.get("receivers", []):
        if webhook_url is not None:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = webhook_url
        if slack_api_url is not None:
            for slack in receiver.get("slack_configs", []):
                slack.pop("api_url_file", None)
                slack["api_url"] = slack_api_url
    text: str = yaml.safe_dump(config, sort_keys=False, width=120)
    return text
