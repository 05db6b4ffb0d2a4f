"""Auto Scaling with the safety rules the orchestrator enforces itself (AWS and moto only store
cooldowns and warmups): policies per group (`config`), the pure decision (`decide`), the
per-group history in the store (`history`), the service the `aws.asg.*` actions (`actions`)
call (`service`) and the metrics (`metrics`); the AWS side is `orchestrator.families.aws.asg`.

The DR contract: a DR drill or failover in environment E holds the job lock `dr/E` (its rules
set `lock: dr/<env>`); no scale-in of a group of E runs while that lock is held.
"""
