"""Operations: backups that restore (``backup``), a standby that takes over (docs)."""
