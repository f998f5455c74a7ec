import pytest


@pytest.fixture
def mx(instance):
    """smtpd and deliverd running, with demo@example.test and an alias."""
    instance.add_user("demo@example.test")
    instance.mailctl("alias", "add", "info@example.test", "demo@example.test")
    instance.start("smtpd", "deliverd")
    return instance
