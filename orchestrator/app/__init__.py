"""The composition roots, one per process: the daemon's intake (`daemon`), its job worker
(`worker`, supervised by `supervisor` over `ipc`), and the CLI's local wiring (`local`). Each
builds the config (`config`), the built-in families (`families`), the store, object stores and
definitions (`wiring`) the same way, and passes them in."""
