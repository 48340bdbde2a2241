"""`trunkwatch backtest OWNER/REPO`: what the App would have said about a branch's history,
read from the real GitHub (read-only). The run (backtest), what it keeps on disk (cache), the
deliveries the webhook would have sent (deliveries), the report (report), the command line
(cli)."""
