from outbound_fixtures import (SENDER, knot, outbound_config, postfix,  # noqa: F401
                               remote_mx, sender_instance)
