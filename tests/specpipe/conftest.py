"""The sample codebases under fixtures/ are data to scan, not tests to collect."""

collect_ignore_glob = ["fixtures/*"]
