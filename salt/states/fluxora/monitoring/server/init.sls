# Prometheus and Alertmanager with the repository's monitoring/ files, targets from pillar.
include:
  - .package
  - .config
  - .service
