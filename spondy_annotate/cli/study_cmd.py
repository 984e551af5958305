"""``spondy-annotate study``: define a reader study, show its progress, share the pseudonym key."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from spondy_annotate.cli.db_arg import add_db_option
from spondy_annotate.errors import StoreError
from spondy_annotate.grading.study import StudyError
from spondy_annotate.projectdb.url import display_name


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``study`` subcommand and its actions."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "study",
        help="define a reader study, show its progress, export or import the pseudonym key",
        description="A reader study is defined once per project database (a TOML file kept in "
        "it): readers, case assignment, order, blinding, repeat reads and the adjudication "
        "rule. It cannot be changed once reading has started.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("create", "define the study from a TOML file (refused if one exists)"),
        ("set", "replace the study before reading has started"),
    ):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("file", type=Path, metavar="FILE", help="study TOML file")
        _db(p)
    _db(actions.add_parser("show", help="print the study's TOML (with its recorded seeds)"))
    status = actions.add_parser(
        "status", help="per reader: assigned, done, in progress, repeats due; disagreements"
    )
    _db(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    key = actions.add_parser(
        "key",
        help="export or import the pseudonym key, so that two databases give the same case IDs",
    )
    key_actions = key.add_subparsers(dest="key_action", metavar="ACTION", required=True)
    for name, text in (
        ("export", "write the database's pseudonym key to a new file (keep it secret)"),
        ("import", "take the key of FILE (only into a database without registered cases)"),
    ):
        p = key_actions.add_parser(name, help=text, description=text)
        p.add_argument("file", type=Path, metavar="FILE", help="key file")
        _db(p)
    return parser


def _db(parser: argparse.ArgumentParser) -> None:
    add_db_option(parser, required=True)


def run(args: argparse.Namespace) -> int:
    """Run the study action; return 0 (errors are raised as ``SpondyError``)."""
    from spondy_annotate.grading.store import Store

    create = args.action in ("create", "set") or (
        args.action == "key" and args.key_action == "import"
    )
    with Store(args.db, create=create) as store:
        if args.action == "key":
            return _key(store, args)
        if args.action in ("create", "set"):
            if args.action == "create" and store.study() is not None:
                raise StudyError(f"{store.path}: has a study already; change it with `study set`")
            try:
                text = args.file.read_text(encoding="utf-8")
            except OSError as exc:
                raise StoreError(f"{args.file}: cannot read ({exc.strerror or exc})") from None
            readers = store.set_study(text, source=str(args.file)).readers
            done = "created" if args.action == "create" else "set"
            print(f"study {done}: {len(readers)} reader(s) {', '.join(readers)}")
            return 0
        study = store.study()
        if study is None:
            raise StoreError(f"{store.path}: no study (spondy-annotate study create FILE --db DB)")
        if args.action == "show":
            print(study.text, end="" if study.text.endswith("\n") else "\n")
            return 0
        return _status(store, args.json)


def _key(store: Any, args: argparse.Namespace) -> int:
    from spondy_annotate.grading.pseudonym import read_key_file, write_key_file

    if args.key_action == "export":
        write_key_file(args.file, store.pseudonym_key)
        print(f"wrote the pseudonym key of {display_name(args.db)} to {args.file} (keep it secret)")
    else:
        changed = store.import_key(read_key_file(args.file))
        print(f"{display_name(args.db)}: {'key imported' if changed else 'has this key already'}")
    return 0


def _status(store: Any, as_json: bool) -> int:
    from spondy_annotate.grading.progress import study_status
    from spondy_annotate.grading.rubric_toml import default_rubric

    sessions = store.sessions()
    rubric = sessions[-1].rubric if sessions else default_rubric()
    status = study_status(store, rubric)
    if as_json:
        print(json.dumps(status.to_json(), indent=2))
        return 0
    print(f"{'reader':<12} assigned  done  in progress  not started  repeats due/done/all")
    for r in status.readers:
        print(
            f"{r.reader:<12} {r.assigned:>8} {r.done:>5} {r.in_progress:>12} {r.not_started:>12}"
            f"  {r.repeats_due}/{r.repeats_done}/{r.repeats}"
        )
    print(f"disagreements: {status.disagreements}; adjudication queue: {status.queue}")
    return 0
