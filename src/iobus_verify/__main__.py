from iobus_verify.cli import main

raise SystemExit(main())
