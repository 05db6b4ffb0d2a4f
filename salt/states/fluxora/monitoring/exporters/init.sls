# Exporters: node on every host; postgres where a cluster runs.
include:
  - .node
  - .postgres
