"""The executor: claims jobs and runs them (`service`), one runbook run (`runner`), one action
call (`steps`)."""
