"""The App over HTTP: `/webhook` and `/healthz` (server), `/readyz` and `/metrics` (ops,
metrics), the status page (status_page, status_views, status_templates, templates/), and the
check a webhook body passes before it is stored (payload_check)."""
