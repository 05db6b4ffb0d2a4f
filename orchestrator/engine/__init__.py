"""The engine: the one path of every event. Sources (`sources`) turn inputs into events for the
inbox (`inbox`), which commits them and has the rules (`rules`) decide; a fired rule's job runs
its runbook (`runbooks`) in the executor (`executor`). `api` is the HTTP server and its read-only
JSON. The engine knows no family: the composition roots pass the families' actions,
resources and hooks in."""
