{#- SSH hardening as a drop-in: sshd reads it on its next (re)load; the file is validated first. #}
{%- from 'fluxora/common/map.jinja' import common %}

fluxora-common-ssh-config-file-managed:
  file.managed:
    - name: {{ common.ssh.config }}
    - makedirs: true
    - mode: '0644'
    - contents: |
        # Managed by Salt (fluxora.common): SSH hardening.
{%- for key, value in common.ssh.settings | dictsort %}
        {{ key }} {{ value }}
{%- endfor %}
