"""One module per webhook event, each with its own Router, composed here."""

from gidgethub import routing

from bot.handlers import (
    installation,
    issue_comment,
    issues,
    push,
    timers,
    workflow_job,
    workflow_run,
)

EVENTS = frozenset(
    {
        "push",
        "workflow_run",
        "workflow_job",
        "issue_comment",
        "issues",
        "installation",
        "installation_repositories",
    }
)

# Events that the App makes itself (timers): routed, never accepted from the webhook.
INTERNAL_EVENTS = frozenset({timers.TIMER_EVENT})

# Events whose handlers need no GitHub client: GitHub refuses an installation token to an
# installation that was just deleted or suspended, and these events must still be recorded.
NO_CLIENT_EVENTS = frozenset({"installation", "installation_repositories"})

router = routing.Router(
    push.router,
    workflow_run.router,
    workflow_job.router,
    issue_comment.router,
    issues.router,
    installation.router,
    timers.router,
)
