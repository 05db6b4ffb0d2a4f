"""DR drills: steady-state checks and stop conditions (`checks`), RTO/RPO measured against the
runbook's targets (`measure`), drill runs and their metrics (`records`), the schedules' drill
intervals (`schedules`) and the drill report (`report`)."""
