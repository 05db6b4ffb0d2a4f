# Base of every Fluxora host: grains env/roles, packages, service user, sysctl, time, SSH.
include:
  - .grains
  - .package
  - .user
  - .sysctl
  - .timesync
  - .ssh
