{%- from 'fluxora/walarchive/map.jinja' import walarchive %}

fluxora-walarchive-package-pkg-installed:
  pkg.installed:
    - pkgs:
      - {{ walarchive.pkg }}
      - python3

fluxora-walarchive-package-file-managed:
  file.managed:
    - name: {{ walarchive.script }}
    - source: salt://fluxora/walarchive/files/fluxora-wal-archive
    - user: root
    - group: root
    - mode: '0755'
