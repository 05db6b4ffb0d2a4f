# Everything monitoring on one host (as on a dev machine): the exporters and the server side.
include:
  - .exporters
  - .server
