"""Use cases the API, the CLI and the web UI call: they combine the database, the object store and the
domain packages (datasets, jobs, estimate, backends). One module per area."""
