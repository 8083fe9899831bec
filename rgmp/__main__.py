import sys

from rgmp.cli import main

sys.exit(main())
