"""One mail transaction on an open client Session: MAIL, RCPT and the
message, and an outcome for every recipient.

    await send(session, message) -> {address: Outcome}    # raises SessionBroken

It uses what the peer offers: PIPELINING (RFC 2920: the envelope in one
write, ended by DATA or by the whole message in one BDAT), SIZE (RFC 1870),
8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), CHUNKING (RFC 3030: BDAT, so the
message goes as it is, without dot-stuffing), DSN (RFC 3461: RET, ENVID,
NOTIFY, ORCPT passed on). Where the peer lacks what a message needs, the
message is not sent and its recipients fail: an 8-bit message to a peer
without 8BITMIME (5.6.3: returned rather than downgraded), a UTF-8 address
to a peer without SMTPUTF8 (5.6.7, RFC 6531 3.2), a message over the peer's
SIZE (5.3.4). A REQUIRETLS message (RFC 8689) goes only to a peer that offers
REQUIRETLS over TLS whose certificate was verified (session.authenticated),
with REQUIRETLS on its MAIL command; else it is deferred (4.7.30), and
returned with 5.7.30 when it expires (outbound.record), never sent without.
"""

from .message import BDAT_CHUNK
from .status import Outcome, show_reply


async def send(session, message):
    """Send one message; returns {recipient address: Outcome}. Raises
    SessionBroken; the recipients of the message then have no outcome."""
    refused = _refusal(session, message)
    if refused is not None:
        return {r.address: refused for r in message.recipients}
    commands = [_mail_command(session, message)]
    commands += [_rcpt_command(session, r) for r in message.recipients]
    if "PIPELINING" not in session.extensions:
        replies = await _in_turn(session, commands)
        outcomes, accepted = _envelope(session, message, replies)
        if not accepted:
            await session.command("RSET")
            return outcomes
        reply = await _body(session, message)
        return _with_body_reply(session, outcomes, accepted, reply)
    # RFC 2920 3.1, RFC 3030 4: the message's first command (DATA, or BDAT
    # with the whole message) may end the group of MAIL and RCPT.
    opening = _opening(session, message)
    replies = await session.pipeline(commands, opening)
    outcomes, accepted = _envelope(session, message, replies[:len(commands)])
    reply = replies[len(commands)] if opening else None
    if reply is not None and reply.code == 354:
        reply = await _data(session, message, send=bool(accepted))
    if not accepted:
        await session.command("RSET")
        return outcomes
    if reply is None:
        reply = await _body(session, message)
    return _with_body_reply(session, outcomes, accepted, reply)


def _opening(session, message):
    """What may end the pipelined group: the whole message in one BDAT
    chunk when it is in memory, DATA without CHUNKING, else nothing (the
    chunks follow the envelope's replies)."""
    if "CHUNKING" not in session.extensions:
        return b"DATA\r\n"
    if message.data is not None and len(message.data) <= BDAT_CHUNK:
        return f"BDAT {len(message.data)} LAST\r\n".encode() + message.data
    return None


def _with_body_reply(session, outcomes, accepted, reply):
    # RFC 3461 5.2.2: a peer with DSN reports success itself, if asked; one
    # without leaves a "relayed" notice to us (outbound.record).
    outcome = Outcome.from_reply(reply.code, show_reply(reply, False),
                                 session.remote)._replace(
        passed_on="DSN" in session.extensions)
    for address in accepted:
        outcomes[address] = outcome
    return outcomes


def _refusal(session, message):
    """The outcome of every recipient when this peer cannot take the
    message, else None."""
    limit = session.extensions.get("SIZE", "")
    # RFC 1870 6: a message over the server's fixed limit would be refused.
    if limit.isdigit() and 0 < int(limit) < message.size:
        return Outcome("failed", "5.3.4", f"message size {message.size} exceeds "
                       f"the limit of {session.remote}, {limit}", session.remote)
    # RFC 6152 3: 8-bit data only to a server that offers 8BITMIME.
    if message.eight_bit and "8BITMIME" not in session.extensions:
        return Outcome("failed", "5.6.3", f"{session.remote} does not accept 8-bit "
                       "messages (no 8BITMIME)", session.remote)
    # RFC 6531 3.2: UTF-8 addresses only to a server that offers SMTPUTF8.
    if message.utf8 and "SMTPUTF8" not in session.extensions:
        return Outcome("failed", "5.6.7", f"{session.remote} does not accept UTF-8 "
                       "addresses (no SMTPUTF8)", session.remote)
    if message.requiretls:
        return _requiretls_refusal(session)
    return None


def _requiretls_refusal(session):
    """RFC 8689 4.2.1: TLS, a certificate verified by MTA-STS, DANE or (with
    a DNSSEC-validated MX) its name, and REQUIRETLS offered; the message
    waits for such a path, and is never downgraded."""
    if not (session.tls and session.authenticated):
        why = "TLS with a verified certificate (MTA-STS, DANE, or a DNSSEC-" \
              "validated MX)" if session.tls else "TLS"
        return Outcome("deferred", "4.7.30", f"REQUIRETLS: {session.remote} offers "
                       f"no {why}; not sent", session.remote)
    if "REQUIRETLS" not in session.extensions:
        return Outcome("deferred", "4.7.30", f"REQUIRETLS: {session.remote} does "
                       "not offer REQUIRETLS; not sent", session.remote)
    return None


async def _in_turn(session, commands):
    """Commands one at a time; the RCPTs are not sent after a failed MAIL."""
    replies = []
    for command in commands:
        replies.append(await session.command(command))
        if not replies[0].ok:
            break
    return replies


def _envelope(session, message, replies):
    """The outcomes of the refused recipients and the list of accepted ones,
    from the replies to MAIL and RCPT."""
    mail, rcpts = replies[0], replies[1:]
    if not mail.ok:
        outcome = Outcome.from_reply(mail.code, show_reply(mail, False),
                                     session.remote)
        return {r.address: outcome for r in message.recipients}, []
    outcomes, accepted = {}, []
    for rcpt, reply in zip(message.recipients, rcpts):
        if reply.ok:
            accepted.append(rcpt.address)
        else:
            outcomes[rcpt.address] = Outcome.from_reply(
                reply.code, show_reply(reply, False), session.remote)
    return outcomes, accepted


def _mail_command(session, message):
    params = []
    if "SIZE" in session.extensions:
        params.append(f"SIZE={message.size}")
    if message.eight_bit:
        params.append("BODY=8BITMIME")
    if message.utf8:
        params.append("SMTPUTF8")
    if message.requiretls:
        params.append("REQUIRETLS")      # RFC 8689 4.2.1: the promise goes on
    if "DSN" in session.extensions:
        # RFC 3461 4.3, 4.4: the sender's wishes go on to the next hop.
        if message.ret:
            params.append(f"RET={message.ret}")
        if message.envid:
            params.append(f"ENVID={xtext(message.envid)}")
    return " ".join([f"MAIL FROM:<{message.sender}>"] + params)


def _rcpt_command(session, rcpt):
    params = []
    if "DSN" in session.extensions:
        # RFC 3461 4.1, 4.2
        if rcpt.notify:
            params.append(f"NOTIFY={','.join(rcpt.notify)}")
        if rcpt.orcpt:
            kind, _, address = rcpt.orcpt.partition(";")
            params.append(f"ORCPT={kind};{xtext(address)}")
    return " ".join([f"RCPT TO:<{rcpt.address}>"] + params)


async def _body(session, message):
    if "CHUNKING" in session.extensions:
        return await _bdat(session, message)
    reply = await session.command("DATA")
    if reply.code != 354:
        return reply
    return await _data(session, message)


async def _data(session, message, send=True):
    """After 354: the message, dot-stuffed, and the final dot; with no
    recipient accepted (a pipelined DATA that got 354 all the same),
    only the dot, and the transaction is empty."""
    end = b".\r\n"
    if send and message.data is not None:
        # A message in memory and its final dot go in one write.
        end = message.stuffed_data() + end
    elif send:
        async for piece in message.stuffed():
            session.write(piece)
            await session.drain()
    session.write(end)
    return await session.flush_and_reply(session.timeouts.final)


async def _bdat(session, message):
    """RFC 3030 2: the message in BDAT chunks, the last one marked LAST;
    each chunk's reply is read before the next is sent."""
    sent, reply = 0, None
    async for chunk in message.chunks(BDAT_CHUNK):
        sent += len(chunk)
        last = " LAST" if sent >= message.size else ""
        session.write(f"BDAT {len(chunk)}{last}\r\n".encode() + chunk)
        reply = await session.flush_and_reply(
            session.timeouts.final if last else session.timeouts.command)
        if not reply.ok or last:
            return reply
    session.write(b"BDAT 0 LAST\r\n")
    return await session.flush_and_reply(session.timeouts.final)


def xtext(text):
    """RFC 3461 4: "+" and "=", controls and non-ASCII as "+HH"."""
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else
                   "".join(f"+{b:02X}" for b in c.encode("utf-8")) for c in text)
