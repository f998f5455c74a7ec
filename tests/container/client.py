"""Mail clients for the container tests, run by the host's Python inside the
container's network namespace (Container.python_in_netns): stdlib smtplib, imaplib
and poplib against the container's 127.0.0.1, as a mail client or another MTA would.

    client.py send SENDER RECIPIENT SUBJECT BODY
        SMTP to port 25; prints the reply to DATA ("250 2.0.0 Ok: queued as QID").
    client.py submit USER PASSWORD RECIPIENT SUBJECT BODY CAFILE HOSTNAME
        Submission on port 587: STARTTLS (certificate checked), AUTH as USER,
        MAIL FROM USER; prints the reply to DATA.
    client.py read PORT USER PASSWORD SUBJECT CAFILE HOSTNAME
        IMAP on PORT (143: STARTTLS, 993: TLS on connect), certificate checked
        against CAFILE for HOSTNAME; waits up to 30 s for a message with SUBJECT
        in INBOX and prints its body as JSON, with the server's greeting and
        capabilities (before STARTTLS).
    client.py pop PORT USER PASSWORD SUBJECT CAFILE HOSTNAME
        The same over POP3 on PORT (110: STLS, 995: TLS on connect), one session
        after another until the message shows (a POP3 session sees the mailbox
        as it was at login).
    client.py dav USER PASSWORD CAFILE HOSTNAME
        CalDAV on port 443 (certificate checked): PROPFIND of the user's
        principal, Depth 1, as USER; prints the status and the names of the
        collections (the calendar and address book made at the first login).
    client.py http HOSTNAME PATH
        HTTP GET of PATH on port 80 (acmed) with Host HOSTNAME; prints the status
        and the Location header as JSON.

A failure is an exception and a non-zero exit, its traceback on stderr.
"""

import base64
import email
import email.policy
import http.client
import imaplib
import json
import poplib
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage
from xml.etree import ElementTree

HOST = "127.0.0.1"
TIMEOUT = 30


def message_bytes(sender, recipient, subject, body):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message.set_content(body)
    return message.as_bytes(policy=email.policy.SMTP)


def send(sender, recipient, subject, body):
    with smtplib.SMTP(HOST, 25, local_hostname="client.test", timeout=TIMEOUT) as smtp:
        smtp.ehlo()
        transaction(smtp, sender, recipient, message_bytes(sender, recipient, subject,
                                                           body))


class SMTP(smtplib.SMTP):
    """SMTP to 127.0.0.1 that knows the server by its name, the name the
    certificate is checked against at STARTTLS."""

    def _get_socket(self, host, port, timeout):
        return socket.create_connection((HOST, port), timeout)


def submit(user, password, recipient, subject, body, cafile, hostname):
    context = ssl.create_default_context(cafile=cafile)
    with SMTP(hostname, 587, local_hostname="client.test", timeout=TIMEOUT) as smtp:
        smtp.starttls(context=context)
        smtp.login(user, password)
        transaction(smtp, user, recipient, message_bytes(user, recipient, subject,
                                                         body))


def transaction(smtp, sender, recipient, data):
    """MAIL, RCPT, DATA, each of which must succeed; prints DATA's reply."""
    code, reply = smtp.mail(sender)
    assert code == 250, (code, reply)
    code, reply = smtp.rcpt(recipient)
    assert code == 250, (code, reply)
    code, reply = smtp.data(data)
    assert code == 250, (code, reply)
    print(f"{code} {reply.decode()}")


class IMAP(imaplib.IMAP4):
    """IMAP to 127.0.0.1 that knows the server by its name, the name the
    certificate is checked against (STARTTLS uses self.host)."""

    def _create_socket(self, timeout):
        return socket.create_connection((HOST, self.port), timeout)


class IMAPS(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection((HOST, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def read(port, user, password, subject, cafile, hostname):
    context = ssl.create_default_context(cafile=cafile)
    if port == 993:
        imap = IMAPS(hostname, port, ssl_context=context, timeout=TIMEOUT)
    else:
        imap = IMAP(hostname, port, timeout=TIMEOUT)
    result = {"greeting": imap.welcome.decode(), "capabilities": list(imap.capabilities)}
    if port != 993:
        imap.starttls(ssl_context=context)
    imap.login(user, password)
    deadline = time.monotonic() + TIMEOUT
    while True:
        body = find(imap, subject)
        if body is not None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body is not None, f"no message with subject {subject!r} in INBOX " \
                             f"after {TIMEOUT} s"
    result["body"] = body
    imap.logout()
    print(json.dumps(result))


def find(imap, subject):
    """The body of the last message in INBOX with this subject, or None (by FETCH:
    imapd has no SEARCH yet)."""
    _, data = imap.select("INBOX")
    if int(data[0]) == 0:
        return None
    _, data = imap.fetch("1:*", "(BODY.PEEK[])")
    for item in reversed(data):
        if isinstance(item, tuple):
            message = email.message_from_bytes(item[1], policy=email.policy.default)
            if message["Subject"] == subject:
                return item[1].split(b"\r\n\r\n", 1)[1].decode()
    return None


class POP3(poplib.POP3):
    """POP3 to 127.0.0.1 that knows the server by its name (STLS checks the
    certificate against self.host)."""

    def _create_socket(self, timeout):
        return socket.create_connection((HOST, self.port), timeout)


class POP3S(poplib.POP3_SSL):
    def _create_socket(self, timeout):
        sock = socket.create_connection((HOST, self.port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)


def pop(port, user, password, subject, cafile, hostname):
    context = ssl.create_default_context(cafile=cafile)
    result = {}
    deadline = time.monotonic() + TIMEOUT
    while "body" not in result:
        if port == 995:
            box = POP3S(hostname, port, context=context, timeout=TIMEOUT)
        else:
            box = POP3(hostname, port, timeout=TIMEOUT)
        result.setdefault("greeting", box.getwelcome().decode())
        result.setdefault("capabilities", sorted(box.capa()))
        if port != 995:
            box.stls(context=context)
        box.user(user)
        box.pass_(password)
        body = pop_find(box, subject)
        box.quit()
        if body is not None:
            result["body"] = body
        elif time.monotonic() > deadline:
            raise AssertionError(f"no message with subject {subject!r} over POP3 "
                                 f"after {TIMEOUT} s")
        else:
            time.sleep(0.2)
    print(json.dumps(result))


def pop_find(box, subject):
    """The body of the last message with this subject, or None: TOP 0 of each to
    find it, then RETR."""
    count, _ = box.stat()
    for number in range(count, 0, -1):
        head = email.message_from_bytes(b"\r\n".join(box.top(number, 0)[1]),
                                        policy=email.policy.default)
        if head["Subject"] == subject:
            data = b"\r\n".join(box.retr(number)[1]) + b"\r\n"
            return data.split(b"\r\n\r\n", 1)[1].decode()
    return None


def dav(user, password, cafile, hostname):
    context = ssl.create_default_context(cafile=cafile)
    sock = socket.create_connection((HOST, 443), TIMEOUT)
    conn = http.client.HTTPSConnection(hostname, 443, context=context, timeout=TIMEOUT)
    conn.sock = context.wrap_socket(sock, server_hostname=hostname)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("PROPFIND", f"/{user}/", headers={
        "Authorization": f"Basic {token}", "Depth": "1"})
    response = conn.getresponse()
    tree = ElementTree.fromstring(response.read())
    hrefs = [e.text for e in tree.iter("{DAV:}href")]
    # The responses' hrefs: the principal and, under it, each collection.
    names = sorted({h.rstrip("/").rsplit("/", 1)[1] for h in hrefs
                    if h.count("/") == 3 and h.endswith("/")})
    print(json.dumps({"status": response.status, "collections": names}))
def get(hostname, path):
    conn = http.client.HTTPConnection(HOST, 80, timeout=TIMEOUT)
    conn.request("GET", path, headers={"Host": hostname})
    reply = conn.getresponse()
    print(json.dumps({"status": reply.status, "location": reply.getheader("Location")}))
    conn.close()


def main(argv):
    command, *args = argv
    if command == "send":
        send(*args)
    elif command == "submit":
        submit(*args)
    elif command == "read":
        port, user, password, subject, cafile, hostname = args
        read(int(port), user, password, subject, cafile, hostname)
    elif command == "pop":
        port, user, password, subject, cafile, hostname = args
        pop(int(port), user, password, subject, cafile, hostname)
    elif command == "dav":
        dav(*args)
    elif command == "http":
        get(*args)
    else:
        raise SystemExit(f"client.py: unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
