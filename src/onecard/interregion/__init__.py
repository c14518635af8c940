"""Cross-region dining: agreements between fund regions and their quarterly clearing (issue 17 §2)."""
