{%- from 'fluxora/etcd/map.jinja' import etcd %}

fluxora-etcd-package-pkg-installed:
  pkg.installed:
    - name: {{ etcd.pkg }}
