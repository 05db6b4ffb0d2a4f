# An etcd member (Patroni's DCS): package, data directory, service.
include:
  - .package
  - .service
