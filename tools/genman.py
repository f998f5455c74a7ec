#!/usr/bin/python3
"""Generate the man pages that must never drift from the code.

    tools/genman.py [OUTDIR]            (default build/man)

writes OUTDIR/mailctl.8 from the click command tree and OUTDIR/mailsuite.toml.5
from the configuration schema, and copies the hand-written pages from man/ with
@VERSION@ and @DATE@ filled in. The date is that of $SOURCE_DATE_EPOCH (set by
dpkg-buildpackage from debian/changelog), else today's, so a package build is
reproducible.
"""

import datetime
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import click  # noqa: E402

from mailsuite import __version__  # noqa: E402
from mailsuite.core import config  # noqa: E402


def page_date():
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
            if epoch else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%d")


def esc(text):
    """Text for roff: backslashes and hyphens escaped, no line starting with a
    control character, `code` in bold."""
    text = str(text).replace("\\", "\\e").replace("-", "\\-")
    parts = text.split("`")
    text = "".join(part if i % 2 == 0 else f"\\fB{part}\\fR"
                   for i, part in enumerate(parts))
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def paragraphs(text):
    """A click help text as roff paragraphs (blank lines separate them)."""
    out = []
    for block in (text or "").strip().split("\n\n"):
        if out:
            out.append(".PP")
        out.append(esc(" ".join(block.split())))
    return out


def header(name, section, title):
    return [f'.TH {esc(name.upper())} {section} "{page_date()}" '
            f'"mailsuite {__version__}" "{title}"']


def config_page():
    out = header("mailsuite.toml", 5, "File Formats")
    out += [".SH NAME", "mailsuite.toml \\- mailsuite configuration file",
            ".SH SYNOPSIS", f".B {esc(config.DEFAULT_PATH)}",
            ".SH DESCRIPTION",
            "The one configuration file of every mailsuite program, in TOML. "
            "Every key has a default, so an empty file is a working "
            "configuration; the file installed by the package shows every key, "
            "commented out, with its default. "
            "Relative paths are taken relative to the directory of the file. "
            "Ports are not configured here: they belong to the systemd socket "
            "units (change them with a drop\\-in, see",
            ".BR systemd.socket (5)).",
            ".PP",
            "A program refuses to start on a file with an unknown section or key, or "
            "a value of the wrong type, and prints the file, line and key at fault; "
            "it then exits with status 78 (EX_CONFIG). A program reads the file "
            "when it starts: restart it (or let it exit when idle) after a change.",
            ".PP",
            "Domains, users and aliases are not configured here: they live in the "
            "account database, managed with",
            ".BR mailctl (8)."]
    section = None
    for opt in config.SCHEMA:
        if opt.section != section:
            section = opt.section
            out += [f'.SH "[{section}]"']
        if opt.shown_default:
            default = opt.shown_default
        elif opt.required:
            default = "none, it must be set"
        else:
            default = config._toml_value(opt.default)
        out += [".TP", f".B {esc(opt.key)}", esc(opt.help), ".br",
                f"Default: {esc(default)}."]
    out += [".SH EXAMPLE", "A server whose name differs from the machine's, which "
            "takes messages of 25 MiB at most:",
            ".PP", ".RS 4", ".nf", "[server]", 'hostname = "mail.example.org"', "",
            "[smtpd]", "max_message_size = 26214400", ".fi", ".RE",
            ".SH FILES", ".TP", f".I {esc(config.DEFAULT_PATH)}",
            "The file read when neither \\fB\\-c\\fR nor \\fBMAILSUITE_CONFIG\\fR "
            "names another.",
            ".SH SEE ALSO", ".BR mailsuite (7),", ".BR mailctl (8),",
            ".BR mail\\-smtpd (8),", ".BR mail\\-deliverd (8),", ".BR mail\\-imapd (8),",
            ".BR mail\\-pop3d (8),", ".BR mail\\-davd (8),", ".BR mail\\-acmed (8)"]
    return "\n".join(out) + "\n"


def _walk(cmd, path):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def _usage(cmd, ctx):
    """The arguments, and [OPTIONS] only when there are options besides --help."""
    pieces = cmd.collect_usage_pieces(ctx)
    if not any(isinstance(p, click.Option) and p.name != "help"
               for p in cmd.get_params(ctx)):
        pieces = [piece for piece in pieces if piece != cmd.options_metavar]
    return " ".join(pieces)


def _command(cmd, path):
    ctx = click.Context(cmd, info_name=" ".join(path))
    out = [".SS " + esc(f"{' '.join(path[1:])} {_usage(cmd, ctx)}".strip())]
    out += paragraphs(cmd.help)
    for param in cmd.params:
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record is None or param.name == "help":
            continue
        out += [".TP", f".B {esc(record[0])}", esc(record[1])]
    return out


def mailctl_page():
    from mailsuite.mailctl import main as cli
    out = header("mailctl", 8, "System Administration")
    out += [".SH NAME", "mailctl \\- administer a mailsuite mail server",
            ".SH SYNOPSIS", ".B mailctl",
            "[\\fB\\-c\\fR \\fIFILE\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR...]",
            ".SH DESCRIPTION"]
    out += paragraphs(cli.help)
    out += [".PP", "The configuration file is the one given with \\fB\\-c\\fR, else "
            "\\fB$MAILSUITE_CONFIG\\fR, else \\fB/etc/mailsuite/mailsuite.toml\\fR. "
            "Changes to domains, users and aliases take effect at once: the "
            "running programs see them at their next lookup. Run as root, "
            "mailctl leaves the files it creates in the state directory to the "
            "directory's owner, so the programs can use them.",
            ".PP", "Every command takes \\fB\\-h\\fR or \\fB\\-\\-help\\fR.",
            ".SH OPTIONS"]
    ctx = click.Context(cli, info_name="mailctl")
    for param in cli.params:
        record = param.get_help_record(ctx)
        if record is not None:
            out += [".TP", f".B {esc(record[0])}", esc(record[1])]
    out += [".SH COMMANDS"]
    for path, cmd in _walk(cli, ["mailctl"]):
        if isinstance(cmd, click.Group):
            continue
        out += _command(cmd, path)
    out += [".SH EXIT STATUS", ".TP", ".B 0", "Done.", ".TP", ".B 1",
            "Refused; the message on standard error says what and why.",
            ".TP", ".B 2", "Usage error.", ".TP", ".B 78",
            "The configuration file is missing or wrong.",
            ".SH ENVIRONMENT", ".TP", ".B MAILSUITE_CONFIG",
            "The configuration file to read when \\fB\\-c\\fR is not given.",
            ".SH EXAMPLES", ".nf", "mailctl domain add example.org",
            "mailctl user add alice@example.org",
            "mailctl user quota alice@example.org 2G",
            "mailctl alias add postmaster@example.org alice@example.org",
            "mailctl alias add @example.org alice@example.org",
            "echo \"$PASSWORD\" | mailctl user passwd \\-\\-password\\-stdin "
            "alice@example.org",
            "mailctl tls self\\-signed \\-\\-force",
            "mailctl dkim generate example.org",
            "mailctl dns example.org > example.org.records",
            "mailctl dkim rotate example.org",
            "mailctl queue list",
            "mailctl queue retry\\-all", ".fi",
            ".SH SEE ALSO", ".BR mailsuite (7),", ".BR mailsuite.toml (5),",
            ".BR mail\\-smtpd (8),", ".BR mail\\-deliverd (8),", ".BR mail\\-imapd (8),",
            ".BR mail\\-pop3d (8),", ".BR mail\\-davd (8),", ".BR mail\\-acmed (8)"]
    return "\n".join(out) + "\n"


def main(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "mailsuite.toml.5").write_text(config_page())
    (outdir / "mailctl.8").write_text(mailctl_page())
    for page in sorted((ROOT / "man").glob("*.[1-8]")):
        text = page.read_text().replace("@VERSION@", __version__)
        (outdir / page.name).write_text(text.replace("@DATE@", page_date()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/man")
