"""The `trunkwatch` command line: serve, demo, replay, backtest, check-config (main)."""
