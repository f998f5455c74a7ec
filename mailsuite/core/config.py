"""The configuration file, /etc/mailsuite/mailsuite.toml.

One schema (`SCHEMA`, in core.options) drives defaults, validation, the sample
configuration and the mailsuite.toml(5) man page. A file that does not fit the
schema is refused with a `ConfigError` naming the file, the line and the key;
programs turn that into one line on stderr and exit 78 (EX_CONFIG). Relative paths in the file are taken relative to the
directory of the file, so a development instance can live in one folder.
"""

import ipaddress
import math
import os
import re
import tomllib
from pathlib import Path

from .options import DELIMITERS, EXAMPLES, SCHEMA, Option, machine_hostname  # noqa: F401

DEFAULT_PATH = "/etc/mailsuite/mailsuite.toml"
EX_CONFIG = 78


class ConfigError(Exception):
    """The configuration file is unusable; the message says where and why."""


_BY_SECTION = {}
for _opt in SCHEMA:
    _BY_SECTION.setdefault(_opt.section, {})[_opt.key] = _opt


class Section:
    """Attribute access to one section's values."""

    def __init__(self, name, values):
        self._name = name
        self.__dict__.update(values)

    def __repr__(self):
        items = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        return f"Section({self._name}, {items})"


class Config:
    """A loaded configuration: `cfg.server.hostname`, `cfg.smtpd.max_message_size`."""

    def __init__(self, path, sections):
        self.path = Path(path)
        for name, values in sections.items():
            setattr(self, name, Section(name, values))

    @property
    def state_dir(self):
        return Path(self.server.state_dir)

    @property
    def runtime_dir(self):
        return Path(self.server.runtime_dir)

    def state_path(self, *parts):
        return self.state_dir.joinpath(*parts)


def config_path(explicit=None):
    """The file to read: an explicit path, else $MAILSUITE_CONFIG, else the default."""
    return explicit or os.environ.get("MAILSUITE_CONFIG") or DEFAULT_PATH


def _line_of(text, section, key=None):
    """The 1-based line where `key` is set inside `[section]` (or, with no key,
    the line of the section header), or None."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"\[\s*([A-Za-z0-9_.-]+)\s*\]", stripped)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
        elif key is not None and current == section and \
                re.match(rf'"?{re.escape(key)}"?\s*=', stripped):
            return number
    return None


def _where(path, text, section, key=None):
    line = _line_of(text, section, key)
    return f"{path}:{line}" if line else str(path)


def _check(path, text, section, opt, value):
    where = _where(path, text, section, opt.key)
    name = f"{section}.{opt.key}"
    if opt.type is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where}: {name}: expected an integer, got {value!r}")
    if opt.type is int and value < 0:
        raise ConfigError(f"{where}: {name}: must not be negative, got {value}")
    if opt.type is float and (isinstance(value, bool)
                              or not isinstance(value, (int, float))):
        raise ConfigError(f"{where}: {name}: expected a number, got {value!r}")
    if opt.type is float and not 0 <= value < math.inf:
        raise ConfigError(f"{where}: {name}: must be a number from 0 up, got {value}")
    if opt.type is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: {name}: expected true or false, got {value!r}")
    if opt.type is list and not (isinstance(value, list)
                                 and all(isinstance(v, str) and v for v in value)):
        raise ConfigError(f"{where}: {name}: expected a list of strings, got {value!r}")
    if opt.type is dict and not (isinstance(value, dict) and all(
            isinstance(hosts, list) and hosts and all(isinstance(h, str) for h in hosts)
            for hosts in value.values())):
        raise ConfigError(f"{where}: {name}: expected a table of domain = "
                          f"[\"host\", ...], got {value!r}")
    if opt.type is str and not isinstance(value, str):
        raise ConfigError(f"{where}: {name}: expected a string, got {value!r}")
    if opt.type is str and not value and not opt.empty_ok:
        raise ConfigError(f"{where}: {name}: must not be empty")
    if opt.type is list and not (isinstance(value, list)
                                 and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{where}: {name}: expected a list of strings, got {value!r}")
    if name == "smtpd.recipient_delimiter" and not set(value) <= set(DELIMITERS):
        raise ConfigError(f"{where}: {name}: each character must be one of "
                          f"{DELIMITERS}, got {value!r}")
    if name == "dnsbl.action" and value not in ("reject", "record"):
        raise ConfigError(f"{where}: {name}: must be reject or record, got {value!r}")
    if name in ("submitd.relay_networks", "smtpd.exempt_networks"):
        _check_networks(where, name, value)
    if name == "server.log_level" and value not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"{where}: {name}: must be one of debug, info, warning, error")
    if name == "acmed.key_type" and value not in ("ecdsa", "rsa"):
        raise ConfigError(f"{where}: {name}: must be ecdsa or rsa")
    if name == "dkim.rsa_bits" and not 2048 <= value <= 4096:
        raise ConfigError(f"{where}: {name}: must be from 2048 to 4096, got {value}")
    if name == "outbound.nameservers":
        for server in value:
            try:
                host_port(server, 53)
            except ValueError as exc:
                raise ConfigError(f"{where}: {name}: {exc}") from None
    if name in ("outbound.relay_host", "rspamd.address"):
        try:
            relay_address(value)
        except ValueError as exc:
            raise ConfigError(f"{where}: {name}: {exc}") from None
    if name == "outbound.routes":
        for domain, hosts in value.items():
            try:
                [relay_address(host) for host in hosts]
            except ValueError as exc:
                raise ConfigError(f"{where}: {name}: {domain}: {exc}") from None
    if name == "server.hostname" and not re.fullmatch(r"[A-Za-z0-9.-]+", value):
        raise ConfigError(f"{where}: {name}: not a host name: {value!r}")


def _check_networks(where, name, value):
    for network in value:
        try:
            ipaddress.ip_network(network)
        except ValueError as exc:
            raise ConfigError(f"{where}: {name}: not a network: {exc}") from None


def host_port(text, default_port):
    """("address", port) from "address", "address:port" or "[v6 address]:port";
    raises ValueError naming what is wrong."""
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        ipaddress.ip_address(host)
        port = int(port)
    except ValueError:
        raise ValueError(f"not an address or address:port: {text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"not a port: {port}")
    return host, port


def relay_address(text, default_port=25):
    """(host, port) of a relay host: a name or an address, with an optional
    port; raises ValueError naming what is wrong."""
    try:
        return host_port(text, default_port)
    except ValueError:
        pass
    host, _, port = text.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", host) or \
            (port and not port.isdigit()) or not 0 < int(port or default_port) < 65536:
        raise ValueError(f"not a host name or address, with an optional port: "
                         f"{text!r}")
    return host, int(port or default_port)


def load(path=None):
    """Read and validate the file; raise ConfigError if it is missing or wrong."""
    path = Path(config_path(path))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return from_dict(data, path, text)


def from_dict(data, path="<config>", text=""):
    base = Path(path).resolve().parent
    sections = {}
    for section, value in data.items():
        if section not in _BY_SECTION:
            raise ConfigError(f"{_where(path, text, section)}: unknown section [{section}]")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {section}: expected a [{section}] table")
        for key in value:
            if key not in _BY_SECTION[section]:
                raise ConfigError(
                    f"{_where(path, text, section, key)}: {section}.{key}: unknown key")
    for section, options in _BY_SECTION.items():
        given = data.get(section, {})
        values = {}
        for key, opt in options.items():
            if key not in given:
                if opt.required:
                    raise ConfigError(f"{path}: {section}.{key}: required but not set")
                values[key] = _computed_default(path, opt)
                continue
            _check(path, text, section, opt, given[key])
            value = given[key]
            if opt.type in (float, list):
                value = float(value) if opt.type is float else tuple(value)
            if opt.is_path:
                value = str(base / value)
            values[key] = value
        sections[section] = values
    return Config(path, sections)


def _computed_default(path, opt):
    if not callable(opt.default):
        return opt.default
    value = opt.default()
    try:
        _check(path, "", opt.section, opt, value)
    except ConfigError:
        raise ConfigError(f"{path}: {opt.section}.{opt.key}: not set, and the "
                          f"default, {opt.shown_default}, is unusable: {value!r}; "
                          "set it") from None
    return value


def sample():
    """The documented configuration file with every key commented out."""
    out = ["# mailsuite.toml: the mailsuite configuration. See mailsuite.toml(5).",
           "# Every key is shown commented out, with its default; a key left",
           "# commented out keeps its default.", ""]
    section = None
    for opt in SCHEMA:
        if opt.section != section:
            section = opt.section
            out += [f"[{section}]", ""]
        for line in _wrap(opt.help):
            out.append(f"# {line}")
        if opt.shown_default:
            out.append(f"# Default: {opt.shown_default}.")
            out.append(f"#{opt.key} = {_toml_value(EXAMPLES[opt.section, opt.key])}")
        else:
            out.append(f"#{opt.key} = {_toml_value(opt.default)}")
        out.append("")
    return "\n".join(out)


def _toml_value(value):
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def _wrap(text, width=84):
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines
