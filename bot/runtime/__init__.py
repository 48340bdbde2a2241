"""The App at work behind its webhook: the worker that drains the inbox one repository at a
time (worker), the tracker's timers (timers), missed deliveries recovered from GitHub
(recovery), the installations kept in sync (installations), and recorded deliveries fed
through the same path (replay)."""
