"""Every contract of the orchestrator, importing nothing else of it: events, the inbox and
decision types, jobs, journals, the runbook format, actions and their results, executor hooks,
retries, templates, durations, config sections, names, errors and logs."""
