"""What every security test checks: the log stays clean and small."""

USER = "demo@example.test"
PASSWORD = "secret-password"
MAX_LOG_LINE = 2048


def assert_clean_log(instance, program):
    text = instance.log(program)
    assert "Traceback" not in text, text[-4000:]
    longest = max((len(line.encode()) for line in text.splitlines()), default=0)
    assert longest <= MAX_LOG_LINE, f"a {program} log line has {longest} bytes"
