# An api or worker host (an Auto Scaling instance): its directory and health endpoint.
include:
  - .config
  - .service
