"""Every route of the worker's HTTP API with the scope it needs, and the app that serves them.

`admin` changes the configuration, `review` approves or rejects pending changes,
`intake` sends events (and activates through /assignments), `read` reads; the
console's pages under /ui/ follow the same rules; see
`topology.tokens` for how tokens grant them and `api.access` for the check.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from aiohttp import web

from agents.experiment_admin import ExperimentAdmin
from api import config_views as config
from api import intake, operations, results
from api.access import POLICY, PUBLIC, AccessPolicy, Rule, enforce_access
from api.http import BODY_LIMITS, BodyLimits, Handler, json_errors, read_body
from api.intake import INGESTION, Ingestion
from api.results import RESULTS, Results
from console import pages, writes
from console.app import console_pages, setup_templates, static_file
from console.session import SessionKeys
from topology.settings import Settings
from topology.tokens import Scope

log = logging.getLogger(__name__)
ADMIN, REVIEW, INTAKE, READ = Scope.ADMIN, Scope.REVIEW, Scope.INTAKE, Scope.READ


class Route(NamedTuple):
    method: str
    path: str
    handler: Handler
    rule: Rule


ROUTES = (
    Route("GET", "/health", config.health, PUBLIC),
    Route("GET", "/ready", config.ready, PUBLIC),
    Route("GET", "/metrics", config.prometheus_metrics, READ),
    Route("GET", "/config", config.served_config, READ),
    Route("GET", "/experiments", config.list_experiments, READ),
    Route("POST", "/experiments", config.create_experiment, ADMIN),
    Route("GET", "/experiments/{key}", config.get_experiment, READ),
    Route("PATCH", "/experiments/{key}", config.patch_experiment, ADMIN),
    Route("DELETE", "/experiments/{key}", config.delete_experiment, ADMIN),
    Route("GET", "/experiments/{key}/history", config.history, READ),
    Route("GET", "/experiments/{key}/changes", config.pending_changes, READ),
    Route("POST", "/experiments/{key}/changes/{change}/approve", config.approve, REVIEW),
    Route("POST", "/experiments/{key}/changes/{change}/reject", config.reject, REVIEW),
    Route("PUT", "/layers/{key}", config.put_layer, ADMIN),
    Route("PUT", "/holdout", config.put_holdout, ADMIN),
    Route("GET", "/experiments/{key}/results", results.get_results, READ),
    Route("GET", "/experiments/{key}/timeline", results.get_timeline, READ),
    Route("GET", "/experiments/{key}/power", results.get_power, READ),
    Route("GET", "/layers", config.list_layers, READ),
    Route("GET", "/operations", operations.get_operations, READ),
    # Looking up is reading; activating logs exposures, which is intake.
    Route("GET", "/assignments", intake.get_assignments, intake.assignment_scope),
    Route("POST", "/assignments", intake.post_assignments, intake.assignment_scope),
    Route("POST", "/exposures", intake.post_exposures, INTAKE),
    Route("POST", "/events", intake.post_events, INTAKE),
    # The console: its pages read as the API does; its forms write as the API does, under
    # the session's actor (a signed-in session's writes also need its CSRF token).
    Route("GET", "/ui/static/{name}", static_file, PUBLIC),
    Route("GET", "/ui/login", writes.login_page, PUBLIC),
    Route("POST", "/ui/login", writes.login, PUBLIC),
    Route("POST", "/ui/logout", writes.logout, PUBLIC),
    Route("GET", "/ui/", pages.experiments_page, READ),
    Route("GET", "/ui/experiments/{key}", pages.experiment_page, READ),
    Route("GET", "/ui/layers", pages.layers_page, READ),
    Route("GET", "/ui/operations", pages.operations_page, READ),
    Route("GET", "/ui/qa", pages.qa_page, READ),
    Route("GET", "/ui/new", writes.draft_page, ADMIN),
    Route("POST", "/ui/new", writes.save_draft, ADMIN),
    Route("GET", "/ui/experiments/{key}/edit", writes.draft_page, ADMIN),
    Route("POST", "/ui/experiments/{key}/edit", writes.save_draft, ADMIN),
    Route("GET", "/ui/experiments/{key}/preview", writes.preview, ADMIN),
    Route("POST", "/ui/experiments/{key}/apply", writes.apply, ADMIN),
    Route("POST", "/ui/experiments/{key}/changes/{change}/approve", writes.approve, REVIEW),
    Route("POST", "/ui/experiments/{key}/changes/{change}/reject", writes.reject, REVIEW),
)


def build_api(settings: Settings, admin: ExperimentAdmin, ingestion: Ingestion,
              results_of: Results, streams: config.StreamState | None = None,
              ) -> web.Application:
    # Order: errors wrap everything; access before any body is read.
    app = web.Application(middlewares=[json_errors, console_pages, enforce_access, read_body],
                          client_max_size=settings.max_body_bytes)
    setup_templates(app)
    app[config.ADMIN] = admin
    app[config.STREAMS] = streams
    app[INGESTION] = ingestion
    app[RESULTS] = results_of
    app[BODY_LIMITS] = BodyLimits(settings.max_body_bytes, settings.body_timeout_s)
    rules = {app.router.add_route(r.method, r.path, r.handler): r.rule for r in ROUTES}
    tokens = settings.token_actors
    secret = settings.console_secret.get_secret_value() if settings.console_secret else None
    sessions = SessionKeys.for_tokens(tokens, secret, settings.console_session_hours * 3600)
    app[POLICY] = AccessPolicy(tokens, settings.api_open_reads, settings.api_open_intake,
                               rules, sessions)
    if settings.api_open_intake:
        log.warning("ABSTREAM_API_OPEN_INTAKE is true: anyone who reaches port %d can send "
                    "exposures and events, and so change results", settings.web_port)
    return app
