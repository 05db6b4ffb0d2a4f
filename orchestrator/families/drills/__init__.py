"""DR drills: drill runs and their metrics (`records`), the schedules' drill intervals
(`schedules`) and the drill report (`report`). Steady-state checks, stop conditions and the
RTO/RPO assessment are the executor's, for every runbook."""
