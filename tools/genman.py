#!/usr/bin/python3
"""Generate the man pages that must never drift from the code.

    tools/genman.py OUTDIR

writes OUTDIR/mailctl.8 from the click command tree and OUTDIR/mailsuite.toml.5
from the configuration schema, and copies the hand-written pages from man/.
"""

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import click  # noqa: E402

from mailsuite import __version__  # noqa: E402
from mailsuite.core import config  # noqa: E402

DATE = "2026"


def esc(text):
    """Escape text for roff: backslashes, and leading dots or quotes."""
    text = str(text).replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def header(name, section, title):
    return [f'.TH {name.upper()} {section} "{DATE}" "mailsuite {__version__}" "{title}"']


def config_page():
    out = header("mailsuite.toml", 5, "File Formats")
    out += [".SH NAME", "mailsuite.toml \\- mailsuite configuration file",
            ".SH SYNOPSIS", f".B {esc(config.DEFAULT_PATH)}",
            ".SH DESCRIPTION",
            "The one configuration file of every mailsuite program, in TOML. "
            "The smallest useful file sets",
            ".B server.hostname",
            "only; every other key has the default shown here. Relative paths are "
            "taken relative to the directory of the file. Ports are not configured "
            "here: they belong to the systemd socket units (change them with a "
            "drop-in, see",
            ".BR systemd.socket (5)).",
            ".PP",
            "A program refuses to start on a file with an unknown section or key, or "
            "a value of the wrong type, and prints the file, line and key at fault; "
            "it then exits with status 78 (EX_CONFIG).",
            ".PP",
            "Domains, users and aliases are not configured here: they live in the "
            "account database, managed with",
            ".BR mailctl (8)."]
    section = None
    for opt in config.SCHEMA:
        if opt.section != section:
            section = opt.section
            out += [f'.SH "[{section}]"']
        default = "(required)" if opt.required else config._toml_value(opt.default)
        out += [".TP", f".B {opt.key}", esc(opt.help), f"Default: {esc(default)}."]
    out += [".SH EXAMPLE", ".nf", "[server]", 'hostname = "mail.example.org"', "", "[tls]",
            'cert = "/etc/mailsuite/tls/cert.pem"', 'key = "/etc/mailsuite/tls/key.pem"',
            ".fi", ".SH SEE ALSO", ".BR mailsuite (7), mailctl (8)"]
    return "\n".join(out) + "\n"


def _walk(cmd, path):
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name in sorted(cmd.commands):
            yield from _walk(cmd.commands[name], path + [name])


def _usage(cmd, path):
    ctx = click.Context(cmd, info_name=" ".join(path))
    return " ".join(cmd.collect_usage_pieces(ctx))


def mailctl_page():
    from mailsuite.mailctl import cli
    out = header("mailctl", 8, "System Administration")
    out += [".SH NAME", "mailctl \\- manage a mailsuite mail server",
            ".SH SYNOPSIS", ".B mailctl", "[\\fB\\-c\\fR \\fIFILE\\fR] "
            "\\fICOMMAND\\fR [\\fIARGS\\fR...]",
            ".SH DESCRIPTION", esc((cli.help or "").strip()),
            ".PP", "The configuration file is the one given with \\fB\\-c\\fR, else "
            "\\fB$MAILSUITE_CONFIG\\fR, else \\fB/etc/mailsuite/mailsuite.toml\\fR.",
            ".SH COMMANDS"]
    for path, cmd in _walk(cli, ["mailctl"]):
        if isinstance(cmd, click.Group) or len(path) == 1:
            continue
        out += [".TP", f".B {esc(' '.join(path[1:]))} {esc(_usage(cmd, path))}",
                esc((cmd.help or "").strip())]
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                flags = ", ".join(param.opts)
                out += [".RS", ".TP", f".B {esc(flags)}", esc(param.help or ""), ".RE"]
    out += [".SH EXIT STATUS", "0 on success, 1 on an error (the message says what "
            "and why), 2 on a usage error, 78 when the configuration file is "
            "unusable.",
            ".SH EXAMPLES", ".nf", "mailctl domain add example.org",
            "mailctl user add alice@example.org",
            "mailctl alias add postmaster@example.org alice@example.org",
            "mailctl alias add @example.org alice@example.org", ".fi",
            ".SH SEE ALSO", ".BR mailsuite (7), mailsuite.toml (5), mail\\-smtpd (8)"]
    return "\n".join(out) + "\n"


def main(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "mailsuite.toml.5").write_text(config_page())
    (outdir / "mailctl.8").write_text(mailctl_page())
    for page in sorted((ROOT / "man").glob("*.[1-8]")):
        shutil.copy(page, outdir / page.name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "build/man")
