"""core.notify: hints are delivered when someone listens and dropped silently when
not."""

import asyncio

from mailsuite.core import notify


def test_send_to_nobody_is_harmless(tmp_path):
    assert notify.send(tmp_path / "nobody.sock") is False


def test_listener_collects_hints(tmp_path):
    path = tmp_path / "run" / "x.wakeup"

    async def main():
        listener = notify.Listener(notify.bind(path))
        assert await listener.wait(0.05) == []
        assert notify.send(path, b"a@example.test")
        assert notify.send(path, b"b@example.test")
        hints = await listener.wait(2)
        listener.close()
        return hints

    assert asyncio.run(main()) == [b"a@example.test", b"b@example.test"]
