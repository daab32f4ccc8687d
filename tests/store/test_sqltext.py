"""The endpoint's SQL lexing: statement kinds, FORMAT clauses, where INSERT data begins."""

from __future__ import annotations

import pytest

from marketintel.store.endpoint.sqltext import (
    IncompleteError,
    Kind,
    classify,
    external_access,
    output_format,
    split_insert,
)


@pytest.mark.parametrize(
    ("sql", "kind"),
    [
        ("SELECT 1", Kind.READ),
        ("  -- comment\n (SELECT 1)", Kind.READ),
        ("with x as (select 1) select * from x", Kind.READ),
        ("SHOW TABLES", Kind.READ),
        ("/* c */ INSERT INTO t VALUES (1)", Kind.INSERT),
        ("SET max_threads = 1", Kind.SESSION),
        ("USE db", Kind.SESSION),
        ("OPTIMIZE TABLE t FINAL", Kind.WRITE),
        ("ALTER TABLE t DELETE WHERE 1", Kind.DDL),
        ("DROP TABLE t", Kind.DDL),
        ("SELEC 1", Kind.UNKNOWN),
        ("", Kind.UNKNOWN),
    ],
)
def test_classify(sql: str, kind: Kind) -> None:
    assert classify(sql) is kind


def test_output_format_ignores_strings_comments_and_subqueries() -> None:
    assert output_format("SELECT 1 FORMAT JSONEachRow") == "JSONEachRow"
    assert output_format("SELECT 'FORMAT CSV' -- FORMAT TSV\n") is None
    assert output_format("SELECT * FROM (SELECT 1 FORMAT CSV) FORMAT Native SETTINGS x=1") == "Native"
    assert output_format("SELECT `format` FROM t") is None


def test_split_insert_finds_the_data() -> None:
    text = "INSERT INTO t (a, `format`) FORMAT CSV\n1,'FORMAT x'\n"
    split = split_insert(text, at_eof=True)
    assert split is not None
    assert (split.statement, split.fmt) == ("INSERT INTO t (a, `format`)", "CSV")
    assert text[split.data_offset :] == "1,'FORMAT x'\n"
    binary = "INSERT INTO db.t SETTINGS async_insert=0 FORMAT Native\r\n" + "\x00'\"\xff" * 10
    split = split_insert(binary, at_eof=False)
    assert split is not None and split.fmt == "Native" and binary[split.data_offset :].startswith("\x00'")
    values = split_insert("INSERT INTO t VALUES (1), (2)", at_eof=True)
    assert values is not None and values.fmt == "Values"
    assert split_insert("INSERT INTO t SELECT * FROM s", at_eof=True) is None


def test_split_insert_asks_for_more_input() -> None:
    with pytest.raises(IncompleteError):
        split_insert("INSERT INTO t FORMAT Nat", at_eof=False)
    with pytest.raises(IncompleteError):
        split_insert("INSERT INTO t (a) SETTINGS x = '", at_eof=False)


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "file()"),
        ("SELECT * FROM URL('http://x/y', CSV)", "URL()"),
        ("SELECT * FROM s3Cluster('c', 'https://b/k')", "s3Cluster()"),
        ("INSERT INTO FUNCTION file('x.csv') SELECT 1", "file()"),
        ("SELECT 1 INTO OUTFILE 'x.csv'", "INTO OUTFILE"),
        ("SELECT * FROM (SELECT * FROM remote('h', db.t))", "remote()"),
        ("SELECT deltaSum(x), URLHash(u), 'file(' FROM t -- file(", None),
        ("SELECT `file` FROM t", None),
        ("SELECT * FROM `file`('/etc/passwd')", "`file`()"),
    ],
)
def test_external_access(sql: str, found: str | None) -> None:
    assert external_access(sql) == found
