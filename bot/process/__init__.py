"""`trunkwatch serve`'s process: its settings from the environment (settings), its logs as
JSON lines on stderr (logs), and the store, the GitHub client, the worker and the web app
wired together and run until SIGTERM/SIGINT (service)."""
