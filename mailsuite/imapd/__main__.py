"""`python3 -m mailsuite.imapd -c CONFIG`"""

import sys

from . import main

sys.exit(main())
