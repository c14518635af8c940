"""Errors of backup and restore, rooted in ``core.errors`` so the CLI maps them.

::

    InvalidInput ─ NotABackup            the file is no OneCard backup, or not one this
                 │                       database kind can restore (a SQLite file into
                 │                       PostgreSQL, say)
                 ─ BackupToolFailed      pg_dump / pg_restore / psql stopped with an error
                                         (its own words attached); nothing was changed
    NotFound ─ BackupSourceMissing       the backup file or the SQLite database is not there
             ─ ToolMissing               pg_dump, pg_restore or psql is not installed
    StateConflict ─ TargetHoldsData      restore over a database that already holds data,
                  │                      without --replace
                  ─ BackupFileExists     the backup would overwrite a file, without
                                         --overwrite
"""

from __future__ import annotations

from onecard.core.errors import InvalidInput, NotFound, StateConflict


class NotABackup(InvalidInput):
    code = "not_a_backup"
    zh = "{path} 不是可恢复到{kind}的一卡通备份"
    en = "{path} is not a OneCard backup that {kind} can restore"


class BackupToolFailed(InvalidInput):
    code = "backup_tool_failed"
    zh = "{tool} 执行失败，未做任何改动"
    en = "{tool} failed; nothing was changed"


class BackupSourceMissing(NotFound):
    code = "backup_source_missing"
    zh = "找不到 {path}"
    en = "{path} does not exist"


class ToolMissing(NotFound):
    code = "tool_missing"
    zh = "未安装 {tool}（Debian: apt-get install postgresql-client-15）"
    en = "{tool} is not installed (Debian: apt-get install postgresql-client-15)"


class TargetHoldsData(StateConflict):
    code = "target_holds_data"
    zh = "目标数据库 {target} 已有数据（{tables} 张表，{entries} 笔分录）；确需覆盖请加 --replace"
    en = (
        "The target database {target} already holds data ({tables} tables, {entries} "
        "ledger entries); add --replace to overwrite it"
    )


class BackupFileExists(StateConflict):
    code = "backup_file_exists"
    zh = "{path} 已存在；确需覆盖请加 --overwrite"
    en = "{path} already exists; add --overwrite to replace it"
