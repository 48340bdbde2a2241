"""One module per webhook event, each with its own Router, composed here."""

from gidgethub import routing

from bot.handlers import installation, push, workflow_job, workflow_run

EVENTS = frozenset(
    {"push", "workflow_run", "workflow_job", "installation", "installation_repositories"}
)

router = routing.Router(
    push.router,
    workflow_run.router,
    workflow_job.router,
    installation.router,
)
