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

{#- The release wheelhouse (scripts/build-wheel): the fluxora-infra wheel and its dependencies. #}
fluxora-orchestrator-install-wheelhouse-file-recurse:
  file.recurse:
    - name: {{ orchestrator.wheelhouse }}
    - source: {{ orchestrator.dist_source }}
    - include_pat: '*.whl'
    - clean: true
    - makedirs: true

{#- Exactly the pinned version, from the wheelhouse only (pip --no-index); a wheel of another
    version is refused naming both. #}
fluxora-orchestrator-install-fluxora_wheel-installed:
  fluxora_wheel.installed:
    - name: {{ orchestrator.pip_pkg }}
    - version: {{ orchestrator.version | string | json }}
    - venv: {{ orchestrator.venv }}
    - wheelhouse: {{ orchestrator.wheelhouse }}
    - require:
      - cmd: fluxora-orchestrator-install-venv-cmd-run
      - file: fluxora-orchestrator-install-wheelhouse-file-recurse
