# Redis for the API's cache and the workers' queues: package, config, service.
include:
  - .package
  - .config
  - .service
