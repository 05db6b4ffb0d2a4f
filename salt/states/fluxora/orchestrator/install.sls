{%- from 'fluxora/orchestrator/map.jinja' import orchestrator %}

fluxora-orchestrator-install-pkg-installed:
  pkg.installed:
    - pkgs: [python3-venv, python3-pip]

fluxora-orchestrator-install-venv-cmd-run:
  cmd.run:
    - name: {{ orchestrator.python }} -m venv {{ orchestrator.venv }}
    - creates: {{ orchestrator.venv }}/bin/python
    - require:
      - pkg: fluxora-orchestrator-install-pkg-installed

fluxora-orchestrator-install-pip-installed:
  pip.installed:
    - name: {{ orchestrator.pip_source }}
    - bin_env: {{ orchestrator.venv }}
    - require:
      - cmd: fluxora-orchestrator-install-venv-cmd-run
