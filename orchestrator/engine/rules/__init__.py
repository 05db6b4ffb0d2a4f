"""Rules: their YAML schema (`model`) and deciding (`engine`)."""
