# fluxora-orch: installed in a virtualenv, configured from pillar, run as a service.
include:
  - .install
  - .config
  - .service
