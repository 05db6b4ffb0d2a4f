# Prometheus and Alertmanager with the repository's monitoring/ files, targets from pillar;
# Grafana's dashboards and provisioning where enabled.
include:
  - .package
  - .config
  - .service
  - .grafana
