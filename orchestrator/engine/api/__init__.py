"""The daemon's one HTTP server (`server`: health, readiness, metrics), the read-only JSON under
/api/ (`routes`, from `queries` and `views`, which the CLI also prints from the store) and the
signed kill switch (`control`)."""
