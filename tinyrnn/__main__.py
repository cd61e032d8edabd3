import sys

from tinyrnn.cli import main

sys.exit(main())
