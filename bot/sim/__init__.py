"""Tooling for the demo, the tests and the benchmarks; never part of `trunkwatch serve`.

A simulated GitHub on 127.0.0.1 (simulated_github), generated trunk histories (history) and
busy simulated trunks (trunksim), the App's alerts scored against their truth (quality),
`trunkwatch serve` as a child process (devserver), and `trunkwatch demo` (demo)."""
